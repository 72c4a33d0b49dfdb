"""Principal search: DAV:principal-property-search and DAV:principal-search-property-set
(RFC 3744 §9.4-9.5, Evolution's free-busy fallback, older Apple clients, the caldav library)
and Apple's CS:calendarserver-principal-search (attendee type-ahead).

Only accounts the searching user may know of are found: themselves and the members of the
organisations they belong to (``storage_plugin.directory``). Nobody else learns an account exists.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from http import client
from typing import Optional

from radicale import xmlutils

from server.scheduling import principal as props
from server.scheduling.principal import clark
from storage_plugin import directory

PROPERTY_SEARCH, SEARCH_PROPERTY_SET, CS_SEARCH = (clark(t) for t in (
    "D:principal-property-search", "D:principal-search-property-set", "CS:calendarserver-principal-search"))
REPORTS = (PROPERTY_SEARCH, SEARCH_PROPERTY_SET, CS_SEARCH)

# Which directory field a searched property tests.
SEARCHABLE = {
    props.DISPLAYNAME: ("name", "Display name"),
    props.ADDRESS_SET: ("address", "Calendar user address"),
    props.EMAIL_SET: ("address", "Email address"),
    clark("CS:first-name"): ("name", "First name"),
    clark("CS:last-name"): ("name", "Last name"),
    clark("C:calendar-user-type"): ("cutype", "Calendar user type (ROOM for rooms)"),
}
# Apple's search contexts and the calendar-user types they look for.
CONTEXT_CUTYPES = {"attendee": ("INDIVIDUAL", "GROUP"), "location": ("ROOM",), "resource": ("RESOURCE",)}
# Advertised in the DAV header (CalendarServer's names; Apple looks for them).
DAV_FEATURES = ("calendarserver-principal-property-search", "calendarserver-principal-search")
MAX_RESULTS = 50
MAX_CONDITIONS = 10
MAX_TERM = 200
# Shown when a search names no properties (the caldav library's query sends an empty D:prop).
DEFAULT_PROPS = (props.DISPLAYNAME, clark("C:calendar-home-set"), clark("D:principal-URL"))


class BadSearch(ValueError):
    """A search a client must correct (400 with this reason)."""


def _term(element: Optional[ET.Element]) -> str:
    term = ((element.text if element is not None else "") or "").strip()
    if len(term) > MAX_TERM:
        raise BadSearch(f"a search term has at most {MAX_TERM} characters")
    return term


def parse(report: ET.Element) -> tuple[list[tuple[str, str]], bool, Optional[tuple[str, ...]], int, list[str]]:
    """(conditions, match_all, cutypes, limit, wanted properties) of a search REPORT."""
    conditions: list[tuple[str, str]] = []
    cutypes = None
    limit = MAX_RESULTS
    if report.tag == PROPERTY_SEARCH:
        match_all = report.get("test", "allof") != "anyof"
        for search in report.findall(clark("D:property-search")):
            term = _term(search.find(clark("D:match")))
            for prop in search.find(clark("D:prop")) if search.find(clark("D:prop")) is not None else ():
                if prop.tag in SEARCHABLE and term:
                    conditions.append((SEARCHABLE[prop.tag][0], term))
    else:
        match_all = report.get("test", "allof") != "anyof"
        context = report.get("context")
        if context is not None:
            if context not in CONTEXT_CUTYPES:
                raise BadSearch(f"unknown search context {context!r} (attendee, location or resource)")
            cutypes = CONTEXT_CUTYPES[context]
        conditions = [("any", term) for token in report.findall(clark("CS:search-token"))
                      if (term := _term(token))]
        nresults = report.find(f"{clark('CS:limit')}/{clark('CS:nresults')}")
        if nresults is not None:
            text = (nresults.text or "").strip()
            if not text.isdigit() or int(text) < 1:
                raise BadSearch(f"CS:nresults must be a positive integer, got {text!r}")
            limit = min(int(text), MAX_RESULTS)
    if len(conditions) > MAX_CONDITIONS:
        raise BadSearch(f"a search has at most {MAX_CONDITIONS} conditions")
    prop = report.find(clark("D:prop"))
    wanted = [p.tag for p in prop] if prop is not None else []
    # The caldav library puts the wanted properties next to an empty D:prop: take them too.
    wanted += [child.tag for child in report if child.tag not in (
        clark("D:prop"), clark("D:property-search"), clark("D:apply-to-principal-collection-set"),
        clark("CS:search-token"), clark("CS:limit"))]
    return conditions, match_all, cutypes, limit, list(dict.fromkeys(wanted)) or list(DEFAULT_PROPS)


def principal_response(found: props.Principal, wanted: list[str], base_prefix: str) -> ET.Element:
    ok, missing = [], []
    for tag in wanted:
        value = props.principal_property(tag, found, base_prefix)
        (ok if value is not None else missing).append(value if value is not None else ET.Element(tag))
    return props.make_response(xmlutils.make_href(base_prefix, f"/{found.name}/"), ok, missing)


def answer(report: ET.Element, user: str, base_prefix: str, connection) -> tuple[int, ET.Element]:
    """The status and XML answer of a principal search REPORT by ``user``."""
    if report.tag == SEARCH_PROPERTY_SET:
        root = ET.Element(SEARCH_PROPERTY_SET)
        for tag, (_, description) in SEARCHABLE.items():
            entry = ET.SubElement(root, clark("D:principal-search-property"))
            ET.SubElement(ET.SubElement(entry, clark("D:prop")), tag)
            described = ET.SubElement(entry, clark("D:description"))
            described.set("xml:lang", "en")
            described.text = description
        return client.OK, root
    conditions, match_all, cutypes, limit, wanted = parse(report)
    multistatus = ET.Element(clark("D:multistatus"))
    with connection() as conn:
        names = directory.search(conn, user, conditions, match_all=match_all, cutypes=cutypes, limit=limit)
        for name in names:
            found = props.load(conn, name, props.asks_for_proxies(wanted), viewer=user)
            if found is not None:
                multistatus.append(principal_response(found, wanted, base_prefix))
    return client.MULTI_STATUS, multistatus
