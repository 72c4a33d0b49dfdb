"""Goal links inside calendar items, and the item facts the goals API shows.

The link format (one property per link, any number per item, on the master component and on
every override):

    X-PLANERIX-KEY-RESULT;X-WEIGHT=0.5:3f2c...-uuid
    X-PLANERIX-KPI:<uuid>            X-PLANERIX-OBJECTIVE:<uuid>        X-PLANERIX-PROJECT:<name>
    LINK;LINKREL=related;LABEL=Signups;VALUE=URI:urn:uuid:3f2c...      (RFC 9253, for other tools)

The X-property is the key; the LINK beside it only describes. Extraction runs on every write
(``Storage.write_item``); a malformed value is skipped with a warning, never an error, so a
client's PUT is never refused because of a link.
"""
from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timezone


logger = logging.getLogger("planerix.links")

PROPERTIES = {"X-PLANERIX-KEY-RESULT": "key_result", "X-PLANERIX-KPI": "kpi",
              "X-PLANERIX-OBJECTIVE": "objective", "X-PLANERIX-PROJECT": "project"}
PROPERTY_OF = {kind: name for name, kind in PROPERTIES.items()}
WEIGHT_PARAM = "X-WEIGHT"
MAX_PROJECT_LENGTH = 200


@dataclass(frozen=True)
class Link:
    kind: str
    target_id: str
    weight: float = 1.0


@dataclass(frozen=True)
class Facts:
    component: str
    summary: str | None
    status: str | None
    percent_complete: int | None
    due: datetime | None

    @property
    def completion(self) -> float | None:
        """What a task counts toward its goals: None for events and cancelled tasks."""
        if self.component != "VTODO" or self.status == "CANCELLED":
            return None
        return 1.0 if self.status == "COMPLETED" else (self.percent_complete or 0) / 100


def normalize_target(kind: str, value: str) -> str:
    """The canonical id of a link target; ValueError when it cannot be one."""
    value = value.strip()
    if kind == "project":
        if not value or len(value) > MAX_PROJECT_LENGTH or any(ord(c) < 32 for c in value):
            raise ValueError(f"a project name needs 1 to {MAX_PROJECT_LENGTH} printable characters")
        return value
    return str(uuid.UUID(value))


def parse_weight(raw: str | None) -> float:
    if raw is None:
        return 1.0
    weight = float(raw)
    if not math.isfinite(weight) or weight < 0:
        raise ValueError("the weight must be a finite number >= 0")
    return weight


def _components(vobject_item, component_name: str):
    return [c for c in getattr(vobject_item, "components", lambda: [])() if c.name == component_name]


def extract(vobject_item, component_name: str, where: str = "") -> list[Link]:
    found: dict[tuple[str, str], Link] = {}
    for component in _components(vobject_item, component_name):
        for name, kind in PROPERTIES.items():
            for line in component.contents.get(name.lower(), []):
                try:
                    target = normalize_target(kind, str(line.value))
                    weights = line.params.get(WEIGHT_PARAM) or [None]
                    link = Link(kind, target, parse_weight(weights[0]))
                except (ValueError, TypeError) as e:
                    logger.warning("ignoring malformed %s %r in %s: %s", name, line.value, where or "an item", e)
                    continue
                found.setdefault((kind, target), link)
    # Sorted, so concurrent writers update the per-goal totals in one order (no deadlock).
    return [found[key] for key in sorted(found)]


def _utc(value) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), timezone.utc)
    return None


def facts(vobject_item, component_name: str) -> Facts:
    components = _components(vobject_item, component_name)
    masters = [c for c in components if "recurrence-id" not in c.contents]
    component = (masters or components or [None])[0]
    if component is None:
        return Facts(component_name, None, None, None, None)

    def value(name):
        line = component.contents.get(name, [None])[0]
        return None if line is None else line.value

    percent = value("percent-complete")
    try:
        percent = None if percent is None else max(0, min(100, int(str(percent).strip())))
    except ValueError:
        percent = None
    status = value("status")
    summary = value("summary")
    return Facts(component=component_name, summary=None if summary is None else str(summary),
                 status=None if status is None else str(status).strip().upper() or None,
                 percent_complete=percent,
                 due=_utc(value("due") if component_name == "VTODO" else value("dtstart")))


# -- rewriting an item's text (for the API's link and unlink) -----------------------------
def _link_uri(kind: str, target_id: str) -> str:
    return f"urn:planerix:project:{target_id}" if kind == "project" else f"urn:uuid:{target_id}"


def _same_target(prop, kind: str, target_id: str) -> bool:
    try:
        return normalize_target(kind, str(prop)) == target_id
    except ValueError:
        return False


def rewrite(text: str, component_name: str, kind: str, target_id: str, *, weight: float | None = None,
            label: str | None = None) -> str:
    """The item's text with its link to (kind, target) removed, then, unless ``weight`` is None,
    added again with that weight (and a LINK with ``label``) on every component of the item."""
    import icalendar  # on first use: only API links and goals feeds need it (~5 MiB)

    calendar = icalendar.Calendar.from_ical(text)
    name, uri = PROPERTY_OF[kind], _link_uri(kind, target_id)
    for component in calendar.walk(component_name):
        for prop_name in (name, "LINK"):
            kept = [p for p in _as_list(component.get(prop_name))
                    if not (_same_target(p, kind, target_id) if prop_name == name else str(p) == uri)]
            if prop_name in component:
                del component[prop_name]
            for prop in kept:
                component.add(prop_name, prop)
        if weight is not None:
            component.add(name, target_id, parameters={WEIGHT_PARAM: _format_weight(weight)})
            parameters = {"LINKREL": "related", "VALUE": "URI"}
            if label:
                parameters["LABEL"] = label
            component.add("LINK", icalendar.vUri(uri), parameters=parameters)
    return calendar.to_ical().decode("utf-8")


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _format_weight(weight: float) -> str:
    return repr(float(weight)).removesuffix(".0") if float(weight).is_integer() else repr(float(weight))
