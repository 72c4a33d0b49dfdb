"""Calendar-query filters with UID prop-filters, answered from the item columns.

Radicale's prefilter (``simplify_prefilters``) understands a component and a
time range; any prop-filter makes it hand every item of the component to its
parser. A UID filter needs no parsing: Radicale makes every VEVENT, VTODO or
VJOURNAL of an item carry the item's UID (``check_and_sanitize_items``), which
is the ``uid`` column. So a filter made of

    comp-filter VCALENDAR / comp-filter VEVENT|VTODO|VJOURNAL /
        [time-range first] prop-filter UID [text-match ...] ...

is decided here, exactly as ``radicale.item.filter`` decides it: a text-match
is a substring test ("contains"; Radicale reads no match-type in CalDAV),
case-sensitive for the ``i;octet`` collation and on ``str.lower()`` of both
sides for any other, inverted by ``negate-condition="yes"``. The database
narrows the rows with a condition every match fulfils; the test itself runs
on the column in Python. Anything else returns None and keeps Radicale's path.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Optional, Sequence

from radicale import xmlutils
from radicale.item import filter as radicale_filter

_FILTER = xmlutils.make_clark("C:filter")
_COMP_FILTER = xmlutils.make_clark("C:comp-filter")
_PROP_FILTER = xmlutils.make_clark("C:prop-filter")
_TIME_RANGE = xmlutils.make_clark("C:time-range")
_TEXT_MATCH = xmlutils.make_clark("C:text-match")
_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
# Bound as a parameter: a UID with a character outside ASCII, whose lower case
# PostgreSQL (collation "C") and Python may disagree on, is tested in Python only.
NON_ASCII_PATTERN = "[^\\x01-\\x7f]"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching the texts that contain ``text`` (its wildcards escaped)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class UidTest:
    """One C:text-match on the UID property."""
    text: str  # lower-cased unless case-sensitive, as Radicale compares it
    case_sensitive: bool
    negate: bool

    def matches(self, uid: str) -> bool:
        found = self.text in (uid if self.case_sensitive else uid.lower())
        return found != self.negate

    @property
    def sql_kind(self) -> str:
        """How the database narrows candidates: see ``queries.uid_condition``."""
        if self.negate:
            return "any"
        return "octet" if self.case_sensitive else "casemap"


@dataclass(frozen=True)
class IndexedFilter:
    component: str
    start: int
    end: int
    uid_tests: tuple[UidTest, ...]

    def matches(self, uid: str) -> bool:
        return all(test.matches(uid) for test in self.uid_tests)


def _uid_test(text_match: ET.Element) -> UidTest:
    # radicale.item.filter.text_match, read the same way
    case_sensitive = text_match.get("collation") == "i;octet"
    text = next(text_match.itertext(), "")
    return UidTest(text if case_sensitive else text.lower(), case_sensitive,
                   text_match.get("negate-condition") == "yes")


def _uid_tests(prop_filter: ET.Element) -> Optional[list[UidTest]]:
    """The tests of a UID prop-filter, or None for anything but text-matches.

    With no child the filter asks whether the UID is defined: always."""
    if prop_filter.get("name", "").upper() != "UID":
        return None
    if any(child.tag != _TEXT_MATCH for child in prop_filter):
        return None
    return [_uid_test(child) for child in prop_filter]


def analyse(filters: Sequence[ET.Element], collection_tag: str) -> Optional[IndexedFilter]:
    """The filter as columns can answer it, or None to leave it to Radicale."""
    if collection_tag != "VCALENDAR" or len(filters) != 1:
        return None
    (filter_,) = filters
    if filter_.tag != _FILTER or len(filter_) != 1:
        return None
    calendar = filter_[0]
    if calendar.tag != _COMP_FILTER or calendar.get("name", "").upper() != "VCALENDAR" or len(calendar) != 1:
        return None
    component = calendar[0]
    name = component.get("name", "").upper()
    if component.tag != _COMP_FILTER or name not in _COMPONENTS:
        return None
    children = list(component)
    start, end = radicale_filter.TIMESTAMP_MIN, radicale_filter.TIMESTAMP_MAX
    # Radicale tests a comp-filter's time range as its first child only.
    if children and children[0].tag == _TIME_RANGE:
        if not children[0].get("start") and not children[0].get("end"):
            return None
        start, end = radicale_filter.time_range_timestamps(children[0])
        children = children[1:]
    if not children or any(child.tag != _PROP_FILTER for child in children):
        return None  # no prop-filter: Radicale's prefilter already answers it
    tests: list[UidTest] = []
    for prop_filter in children:
        found = _uid_tests(prop_filter)
        if found is None:
            return None
        tests.extend(found)
    return IndexedFilter(name, start, end, tuple(tests))
