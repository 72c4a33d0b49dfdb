"""What a published feed includes: its options, validated, and their JSON form.

Options (all optional)::

    components      ["VEVENT", "VTODO", "VJOURNAL"]  component types included
    past_days       null | 0..36500   window start, days before today (UTC); null: no limit
    future_days     null | 0..36500   window end, days after today; null: no limit
    free_busy       false             times only: no titles, descriptions, alarms, people
    name            null | text       X-WR-CALNAME (default: the calendar's display name)
    refresh_minutes 60                REFRESH-INTERVAL / X-PUBLISHED-TTL suggested to clients
    goal            null | {"kind": "objective" | "key_result" | "kpi" | "project", "id": ...}
                                      only items linked to that goal (an objective: also to
                                      its key results), from the storage's link index

A windowed feed keeps recurring series whole: a series is included when one
of its occurrences falls in the window, with its RRULE, EXDATEs and overrides.

"""
from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from storage_plugin import links

COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
MAX_WINDOW_DAYS = 36500


class ValidationError(ValueError):
    """Invalid input; ``errors`` lists ``{"field": ..., "reason": ...}`` (answered with 422)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class FeedOptions:
    components: tuple[str, ...] = COMPONENTS
    past_days: Optional[int] = None
    future_days: Optional[int] = None
    free_busy: bool = False
    name: Optional[str] = None
    refresh_minutes: int = 60
    goal: Optional[tuple[str, str]] = None  # (kind, id)

    @property
    def windowed(self) -> bool:
        return self.past_days is not None or self.future_days is not None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["components"] = list(self.components)
        data["goal"] = {"kind": self.goal[0], "id": self.goal[1]} if self.goal else None
        return data

    @classmethod
    def from_json(cls, data: Optional[Mapping[str, Any]]) -> "FeedOptions":
        """Options as stored (already validated)."""
        return parse_options(data or {})

    def merged(self, changes: Mapping[str, Any]) -> "FeedOptions":
        """These options with ``changes`` applied (a PATCH), validated as a whole."""
        data = self.to_json()
        if changes.get("free_busy") and "components" not in changes:
            data.pop("components")
        data.update(changes)
        return parse_options(data)


def _window_days(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WINDOW_DAYS:
        raise ValueError(f"must be null or a whole number of days from 0 to {MAX_WINDOW_DAYS}")
    return value


def _components(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise ValueError(f"must be a non-empty list of component types out of {', '.join(COMPONENTS)}")
    unknown = [c for c in value if c.upper() not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown component type {unknown[0]!r}; use {', '.join(COMPONENTS)}")
    wanted = {c.upper() for c in value}
    return tuple(c for c in COMPONENTS if c in wanted)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def display_name(value: Any) -> Optional[str]:
    """A calendar's name: null, or a short text without control characters (nor NUL, which PostgreSQL refuses)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise ValueError("must be null or a non-empty text of at most 255 characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _refresh_minutes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 10080:
        raise ValueError("must be a whole number of minutes from 5 to 10080 (a week)")
    return value


def _goal(value: Any) -> Optional[tuple[str, str]]:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"kind", "id"}:
        raise ValueError('must be null or {"kind": ..., "id": ...}')
    kind, target = value["kind"], value["id"]
    if kind not in links.PROPERTY_OF or not isinstance(target, str):
        raise ValueError(f"kind must be one of {', '.join(links.PROPERTY_OF)} and id a text")
    return kind, links.normalize_target(kind, target)


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "components": _components,
    "past_days": _window_days,
    "future_days": _window_days,
    "free_busy": _bool,
    "name": display_name,
    "refresh_minutes": _refresh_minutes,
    "goal": _goal,
}


def parse_options(data: Any) -> FeedOptions:
    """Validate client-sent options; ``ValidationError`` names every bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError([{"field": "options", "reason": "must be a JSON object"}])
    errors, values = [], {}
    for key, value in data.items():
        check = _FIELDS.get(key)
        if check is None:
            errors.append({"field": key, "reason": f"unknown option; known: {', '.join(_FIELDS)}"})
            continue
        try:
            values[key] = check(value)
        except ValueError as e:
            errors.append({"field": key, "reason": str(e)})
    if values.get("free_busy"):
        components = values.setdefault("components", ("VEVENT",))
        if components != ("VEVENT",):
            errors.append({"field": "components",
                           "reason": "a free/busy feed publishes events only: use [\"VEVENT\"] or leave it out"})
    if errors:
        raise ValidationError(errors)
    return FeedOptions(**values)
