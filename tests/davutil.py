"""Small helpers shared by the protocol tests: iCalendar bodies and multistatus parsing."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote

NS = {
    "D": "DAV:",
    "C": "urn:ietf:params:xml:ns:caldav",
    "CS": "http://calendarserver.org/ns/",
    "A": "http://apple.com/ns/ical/",
    "P": "http://planerix.org/ns/",
}
XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>'
# Time zones as clients send them inside calendar objects.
BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""

NEW_YORK = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""

SYNC_TOKEN_RE = re.compile(r"^http://planerix\.org/ns/sync/(\d+)-(\d+)$")


def clark(tag: str) -> str:
    prefix, name = tag.split(":", 1)
    return f"{{{NS[prefix]}}}{name}"


def calendar(*components: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Planerix tests//EN\r\n"
            + "".join(components) + "END:VCALENDAR\r\n")


def vevent(uid: str, summary: str = "Event", start: str = "20260102T100000Z",
           end: str = "20260102T110000Z", extra: str = "") -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
            f"DTEND:{end}\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\n")


def vtodo(uid: str, summary: str = "Task") -> str:
    return (f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DUE:20260105T120000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\n")


def event(uid: str, summary: str = "Event", **kwargs) -> str:
    """A calendar object holding one VEVENT."""
    return calendar(vevent(uid, summary, **kwargs))


def todo(uid: str, summary: str = "Task") -> str:
    return calendar(vtodo(uid, summary))


@dataclass
class Response:
    """One DAV:response of a multistatus."""
    href: str  # percent-decoded
    status: int | None  # the response-level DAV:status, if any
    props: dict[str, ET.Element] = field(default_factory=dict)  # found (200) properties by clark name
    missing: set[str] = field(default_factory=set)  # properties in a non-200 propstat
    element: ET.Element | None = None

    def text(self, tag: str) -> str | None:
        element = self.props.get(clark(tag))
        return None if element is None else (element.text or "")


def status_code(text: str) -> int:
    return int(text.split()[1])


def multistatus(body: str | bytes) -> tuple[list[Response], ET.Element]:
    root = ET.fromstring(body)
    assert root.tag == clark("D:multistatus"), body
    responses = []
    for element in root.findall(clark("D:response")):
        status = element.find(clark("D:status"))
        response = Response(href=unquote(element.find(clark("D:href")).text),
                            status=None if status is None else status_code(status.text),
                            element=element)
        for propstat in element.findall(clark("D:propstat")):
            code = status_code(propstat.find(clark("D:status")).text)
            for prop in propstat.find(clark("D:prop")):
                if code == 200:
                    response.props[prop.tag] = prop
                else:
                    response.missing.add(prop.tag)
        responses.append(response)
    return responses, root


def sync_body(token: str = "", nresults: int | str | None = None,
              props: tuple[str, ...] = ("D:getetag",)) -> str:
    limit = "" if nresults is None else f"<D:limit><D:nresults>{nresults}</D:nresults></D:limit>"
    prop = "".join(f"<{p}/>" for p in props)
    return (f'{XML_HEADER}<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{limit}"
            f"<D:prop>{prop}</D:prop></D:sync-collection>")


def propfind_body(*props: str) -> str:
    prop = "".join(f"<{p}/>" for p in props)
    return (f'{XML_HEADER}<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
            f'xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/">'
            f"<D:prop>{prop}</D:prop></D:propfind>")


def multiget_body(hrefs, props: tuple[str, ...] = ("D:getetag", "C:calendar-data")) -> str:
    prop = "".join(f"<{p}/>" for p in props)
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (f'{XML_HEADER}<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop>{prop}</D:prop>{refs}</C:calendar-multiget>")


def propfind(user, path: str, *props: str, depth: str = "0") -> list[Response]:
    response = user.request("PROPFIND", path, propfind_body(*props),
                            Depth=depth, **{"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    return multistatus(response.content)[0]


def member_etags(user, path: str) -> dict[str, str]:
    """href (decoded, absolute) → ETag of every member of a collection, by Depth-1 PROPFIND."""
    responses = propfind(user, path, "D:getetag", "D:resourcetype", depth="1")
    collection_href = responses[0].href
    return {r.href: r.text("D:getetag") for r in responses if r.href != collection_href}


def snapshot(user, path: str = "cal/"):
    """Members with ETags plus the collection's ctag: equal snapshots mean nothing changed."""
    response, = propfind(user, path, "CS:getctag")
    return member_etags(user, path), response.text("CS:getctag")
