"""Which events a change of state is: pure functions of the state before and after.

States are those the API computes on read: a KPI's ``health`` (green, yellow, red, or None
without a value), a goal's ``tracking`` (on_track, at_risk, off_track, achieved, or None).
"""
from __future__ import annotations

BAD_HEALTH = frozenset({"yellow", "red"})
RISKY = frozenset({"at_risk", "off_track"})

KINDS = (
    "kpi.breach", "kpi.recovered",
    "key_result.risk", "key_result.recovered", "key_result.achieved",
    "objective.risk", "objective.recovered", "objective.achieved",
    "webhook.disabled",
    # Found by the time-driven evaluator (automation.evaluator), not by a write.
    "deadline.approaching", "task.overdue", "checkin.missing", "kpi.measurement_missing",
    # A rule's webhook action.
    "rule.fired",
    # Calendar items linked to goals, written by the storage (storage_plugin.item_events).
    "item.created", "item.changed", "item.deleted",
    # An attendee's answer reached the organizer's copy of a linked event (storage_plugin.scheduling).
    "invitation.replied",
)


def kpi_events(before: str | None, after: str | None) -> list[str]:
    """Entering yellow or red (green to yellow, yellow to red, none to red) is a breach;
    leaving them for green is a recovery."""
    if after == before:
        return []
    if after in BAD_HEALTH:
        return ["kpi.breach"]
    if before in BAD_HEALTH and after == "green":
        return ["kpi.recovered"]
    return []


def tracking_events(subject_type: str, before: str | None, after: str | None) -> list[str]:
    """Entering at_risk or off_track (or going from one to the other) is a risk; leaving them
    for on_track or achieved a recovery; reaching achieved is an achievement."""
    if after == before:
        return []
    events = []
    if after in RISKY:
        events.append(f"{subject_type}.risk")
    elif before in RISKY and after in ("on_track", "achieved"):
        events.append(f"{subject_type}.recovered")
    if after == "achieved":
        events.append(f"{subject_type}.achieved")
    return events
