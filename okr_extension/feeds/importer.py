"""Apply a fetched feed to its read-only calendar: the difference by UID, through the storage.

A feed is one VCALENDAR holding many components. They are grouped by UID into
calendar objects (a master with its RECURRENCE-ID overrides, as CalDAV stores
them), each prepared exactly as a CalDAV PUT would prepare it. Then, in one
transaction of ``storage_plugin.writer``: objects whose UID is new are added,
objects whose text differs (a changed property, RRULE, EXDATE, or an override
added, changed or removed) are replaced, and stored objects whose UID left the
feed are deleted. A difference in DTSTAMP alone is no change (many feeds stamp
every export anew). Objects that cannot be stored are skipped and reported; a
stored version of them is kept. Commas that generated feeds often leave
unescaped in titles, places and descriptions are escaped before parsing (the
parser would otherwise keep only the text before the first comma).

Bounded (``storage_plugin.bounds``): a feed with more lines than ``max_lines`` or a
property folded too often is refused before parsing; each object is checked as a
PUT is (its recurrence rules first; a refused object is skipped and reported); the
whole import runs under a time budget, which the scheduler cancels when the server
stops. A feed refused or stopped changes nothing stored.

Synchronous (parsing and database writes): run it with ``asyncio.to_thread``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import vobject
from radicale import item as radicale_item

from storage_plugin import writer
from storage_plugin.bounds import budget, ical_scan
from storage_plugin.storage import Storage

MEMBER_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
PRODID = "-//Planerix//feed import//EN"
MAX_REPORTED_SKIPS = 20
DEFAULT_MAX_LINES = 500_000
DEFAULT_BUDGET_SECONDS = 120.0
IMPORTING = "importing the feed"
_DTSTAMP_LINE = re.compile(r"(?m)^DTSTAMP[;:][^\r\n]*\r?\n")
_FOLD = re.compile(r"\r?\n[ \t]")
# Single-valued TEXT properties in which generated feeds often leave commas unescaped; the
# parser would read such a value as a list and keep only its first element.
_TEXT_LINE = re.compile(
    r'(?im)^((?:SUMMARY|DESCRIPTION|LOCATION|COMMENT|CONTACT)(?:;(?:[^:";\r\n]|"[^"\r\n]*")*)*:)(.*)$')
_ESCAPE_OR_COMMA = re.compile(r"\\.|,")


class FeedInvalid(Exception):
    """The body is not an iCalendar feed Planerix can import."""


@dataclass
class SplitFeed:
    # UID → calendar object, prepared for the storage (``item.serialize()`` is what it stores)
    items: dict[str, radicale_item.Item] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # UID → why it cannot be stored


@dataclass
class Changes:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged,
                "skipped": [{"uid": uid, "reason": reason}
                            for uid, reason in itertools.islice(self.skipped.items(), MAX_REPORTED_SKIPS)],
                "skipped_count": len(self.skipped)}


def decode(body: bytes, charset: Optional[str]) -> str:
    for encoding in filter(None, (charset, "utf-8")):
        try:
            return body.decode(encoding).lstrip("\ufeff")
        except (LookupError, UnicodeDecodeError):
            continue
    raise FeedInvalid("the feed is not valid UTF-8 text (and declares no other usable charset)")


def escape_bare_commas(text: str) -> str:
    """Escape the unescaped commas of single-valued TEXT properties (lines are unfolded)."""
    def escape(match: re.Match) -> str:
        value = _ESCAPE_OR_COMMA.sub(lambda m: "\\," if m.group(0) == "," else m.group(0), match.group(2))
        return match.group(1) + value
    return _TEXT_LINE.sub(escape, _FOLD.sub("", text))


def _without_dtstamp(text: str) -> str:
    return _DTSTAMP_LINE.sub("", text)


def _recurrence_key(component) -> tuple:
    rid = getattr(component, "recurrence_id", None)
    return (0, "") if rid is None else (1, str(rid.value))


def _fingerprint(component) -> str:
    """The component's content without DTSTAMP, independent of property order."""
    parts = []
    for child in component.getChildren():
        if isinstance(child, vobject.base.Component):
            parts.append(f"{child.name}{{{_fingerprint(child)}}}")
        elif child.name != "DTSTAMP":
            parts.append(f"{child.name};{sorted(child.params.items())}:{child.value!r}")
    return "\n".join(sorted(parts))


def _ensure_uid(component) -> str:
    uid = radicale_item.get_uid(component)
    if uid:
        return uid
    # Deterministic, so the same UID-less component is recognised on the next fetch.
    uid = "planerix-import-" + hashlib.sha256(_fingerprint(component).encode("utf-8")).hexdigest()[:32]
    component.add("UID").value = uid
    return uid


def split_feed(storage: Storage, body: bytes, charset: Optional[str] = None,
               max_lines: int = DEFAULT_MAX_LINES, several: bool = False) -> SplitFeed:
    """The feed's calendar objects by UID; FeedInvalid if the body is no iCalendar feed.
    ``several``: the body may hold several VCALENDARs (a file of concatenated exports)."""
    text = decode(body, charset)
    try:  # the objects' rules are checked one by one (prepare_item): one bad object is skipped
        ical_scan.check_text(text, dataclasses.replace(storage.text_limits, max_lines=max_lines,
                                                       check_rules=False))
    except ical_scan.TextRefused as e:
        raise FeedInvalid(str(e)) from None
    text = escape_bare_commas(text)
    try:
        calendars = radicale_item.read_components(text)
    except Exception as e:
        raise FeedInvalid(f"not valid iCalendar: {e}") from None
    if not calendars or (len(calendars) > 1 and not several) or \
            any(c.name != "VCALENDAR" for c in calendars):
        names = ", ".join(c.name for c in calendars[:3]) or "nothing"
        raise FeedInvalid(f"expected {'VCALENDARs' if several else 'one VCALENDAR'}, found {names}")
    members = [c for calendar in calendars for c in calendar.getChildren() if c.name in MEMBER_COMPONENTS]
    keyed = sorted(((_ensure_uid(c), _recurrence_key(c), i, c) for i, c in enumerate(members)),
                   key=lambda t: (t[0], t[1], t[2]))
    split = SplitFeed()
    for uid, group in itertools.groupby(keyed, key=lambda t: t[0]):
        budget.check()
        calendar = vobject.iCalendar()
        for _, _, _, component in group:
            calendar.add(component)
        calendar.add(vobject.base.ContentLine("PRODID", [], PRODID))
        try:
            split.items[uid] = writer.prepare_item(storage, calendar.serialize())
        except writer.ItemRejected as e:
            split.skipped[uid] = e.reason
        except Exception as e:  # vobject cannot serialize what it parsed: the item is unusable
            split.skipped[uid] = f"cannot be stored: {e or type(e).__name__}"
    return split


def apply_feed(storage: Storage, owner: str, path: str, feed: SplitFeed, *,
               keep_missing: bool = False, subscribed: bool = True) -> Changes:
    """Make the calendar hold what the feed holds, in one transaction of the owner's lock.
    ``keep_missing``: stored objects whose UID is not in the feed stay (a one-off import);
    ``subscribed``: the calendar is the feed's read-only one (else it must be writable)."""
    changes = Changes(skipped=dict(feed.skipped))
    with writer.editing(storage, owner, path, allow_read_only=subscribed) as calendar:
        stored = {item.uid: item for item in calendar.items()}
        for uid, item in feed.items.items():
            budget.check()
            old, text = stored.get(uid), item.serialize()
            if old is None:
                calendar.put_prepared(item)
                changes.added += 1
            elif old.text == text or _without_dtstamp(old.text) == _without_dtstamp(text):
                changes.unchanged += 1
            else:
                calendar.put_prepared(item, href=old.href)
                changes.changed += 1
        for uid, old in stored.items():
            if not keep_missing and uid not in feed.items and uid not in feed.skipped:
                calendar.delete(old.href)
                changes.removed += 1
    return changes


def import_feed(storage: Storage, owner: str, path: str, body: bytes, charset: Optional[str] = None, *,
                max_lines: int = DEFAULT_MAX_LINES, budget_seconds: float = DEFAULT_BUDGET_SECONDS,
                spend: Optional[budget.Budget] = None, one_off: bool = False) -> Changes:
    """Split and apply a feed within ``budget_seconds`` (or the given, cancellable, ``spend``);
    FeedInvalid when it is refused or stopped, and then nothing stored has changed.
    ``one_off``: an import into a writable calendar (``planerix import ics``), not a
    subscription: several VCALENDARs are taken, and what the body lacks stays stored."""
    try:
        with budget.limited(budget_seconds, IMPORTING, spend) as spent:
            try:
                return apply_feed(storage, owner, path,
                                  split_feed(storage, body, charset, max_lines, several=one_off),
                                  keep_missing=one_off, subscribed=not one_off)
            except Exception:
                if not spent.exceeded:
                    raise
                raise budget.BudgetExceeded(spent.reason) from None
    except budget.BudgetExceeded as e:
        raise FeedInvalid(e.reason) from None
