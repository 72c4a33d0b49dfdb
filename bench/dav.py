"""Raw WebDAV/CalDAV request bodies (as real clients send them) and a timed client.

Bodies follow what DAVx5 and Apple Calendar put on the wire; responses are
parsed with ElementTree just enough to get hrefs, etags and sync tokens.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote

import requests

NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav", "cs": "http://calendarserver.org/ns/"}
XML = "application/xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"

PROPFIND_GETETAG = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
)

# DAVx5: collection state check before deciding to sync.
PROPFIND_CTAG_SYNCTOKEN = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)

# Apple Calendar (macOS/iOS) on the calendar home, Depth: 1.
_APPLE_HOME_PROPS = [
    ("A", "add-member"), ("C", "allowed-sharing-modes"), ("D", "autoprovisioned"),
    ("E", "bulk-requests"), ("B", "calendar-alarm"), ("D", "calendar-color"),
    ("B", "calendar-description"), ("B", "calendar-free-busy-set"), ("D", "calendar-order"),
    ("B", "calendar-timezone"), ("A", "current-user-privilege-set"),
    ("B", "default-alarm-vevent-date"), ("B", "default-alarm-vevent-datetime"),
    ("A", "displayname"), ("C", "getctag"), ("C", "invite"), ("D", "language-code"),
    ("D", "location-code"), ("A", "owner"), ("C", "pre-publish-url"), ("C", "publish-url"),
    ("C", "push-transports"), ("C", "pushkey"), ("A", "quota-available-bytes"),
    ("A", "quota-used-bytes"), ("D", "refreshrate"), ("A", "resource-id"), ("A", "resourcetype"),
    ("B", "schedule-calendar-transp"), ("B", "schedule-default-calendar-URL"), ("C", "source"),
    ("C", "subscribed-strip-alarms"), ("C", "subscribed-strip-attachments"),
    ("C", "subscribed-strip-todos"), ("B", "supported-calendar-component-set"),
    ("B", "supported-calendar-component-sets"), ("A", "supported-report-set"), ("A", "sync-token"),
    ("B", "max-resource-size"), ("B", "max-attendees-per-instance"), ("A", "getetag"),
]
_APPLE_NS = {"A": "DAV:", "B": "urn:ietf:params:xml:ns:caldav", "C": "http://calendarserver.org/ns/",
             "D": "http://apple.com/ns/ical/", "E": "http://me.com/_namespace/"}
PROPFIND_APPLE_HOME = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<A:propfind xmlns:A="DAV:">\n  <A:prop>\n'
    + "".join(
        f'    <{p}:{n} xmlns:{p}="{_APPLE_NS[p]}"/>\n' if p != "A" else f"    <A:{n}/>\n"
        for p, n in _APPLE_HOME_PROPS
    )
    + "  </A:prop>\n</A:propfind>\n"
)


def calendar_query(start: str, end: str, with_data: bool = False) -> str:
    """Time-range calendar-query for VEVENTs returning getetag (DAVx5 style), and
    calendar-data if asked."""
    data = "<c:calendar-data/>" if with_data else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f"<d:prop><d:getetag/>{data}</d:prop>"
        '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
        f'<c:time-range start="{start}" end="{end}"/>'
        "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    )


def calendar_query_uid(uid: str) -> str:
    """python-caldav's ``event_by_uid``: VEVENTs whose UID contains ``uid`` (i;octet)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
        '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
        f'<c:prop-filter name="UID"><c:text-match collation="i;octet">{uid}</c:text-match></c:prop-filter>'
        "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    )


def sync_collection(token: str | None) -> str:
    tok = f"<d:sync-token>{token}</d:sync-token>" if token else "<d:sync-token/>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<d:sync-collection xmlns:d="DAV:">{tok}<d:sync-level>1</d:sync-level>'
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    )


def calendar_multiget(hrefs: list[str]) -> str:
    body = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{body}</c:calendar-multiget>"
    )


@dataclass
class Entry:
    href: str
    status: int  # per-response status (200, 404 ...)
    etag: str | None = None
    data: str | None = None


@dataclass
class Multistatus:
    entries: list[Entry] = field(default_factory=list)
    sync_token: str | None = None
    props: dict[str, str] = field(default_factory=dict)  # first response's text props

    def ok_hrefs(self) -> list[str]:
        return [e.href for e in self.entries if e.status == 200]


def _status(text: str | None) -> int:
    try:
        return int((text or "").split()[1])
    except (IndexError, ValueError):
        return 0


def parse_multistatus(body: bytes) -> Multistatus:
    root = ET.fromstring(body)
    ms = Multistatus()
    tok = root.find("d:sync-token", NS)
    if tok is not None:
        ms.sync_token = (tok.text or "").strip()
    for resp in root.findall("d:response", NS):
        href = unquote((resp.findtext("d:href", "", NS) or "").strip())
        top = resp.find("d:status", NS)
        entry = Entry(href, _status(top.text) if top is not None else 0)
        for ps in resp.findall("d:propstat", NS):
            st = _status(ps.findtext("d:status", "", NS))
            prop = ps.find("d:prop", NS)
            if prop is None:
                continue
            if st == 200:
                entry.status = entry.status or 200
                etag = prop.findtext("d:getetag", None, NS)
                if etag:
                    entry.etag = etag.strip()
                data = prop.findtext("c:calendar-data", None, NS)
                if data:
                    entry.data = data
                if not ms.props:
                    ms.props = {child.tag: (child.text or "").strip() for child in prop}
            elif entry.status == 0:
                entry.status = st
        ms.entries.append(entry)
    return ms


@dataclass
class Reply:
    status: int
    seconds: float
    body: bytes
    headers: dict

    def multistatus(self) -> Multistatus:
        return parse_multistatus(self.body)


class Dav:
    """A keep-alive HTTP session that times each request (body fully read)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None, timeout: float = 900.0):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if auth:
            self.session.auth = auth
        self.timeout = timeout

    def request(self, method: str, path: str, body: str | bytes | None = None,
                headers: dict | None = None) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        t0 = time.perf_counter()
        r = self.session.request(method, self.base + path, data=data, headers=headers or {},
                                 timeout=self.timeout)
        content = r.content
        # Case-insensitive: a proxy may send header names in lower case (HAProxy does).
        return Reply(r.status_code, time.perf_counter() - t0, content, r.headers)

    def propfind(self, path: str, body: str, depth: str) -> Reply:
        return self.request("PROPFIND", path, body, {"Depth": depth, "Content-Type": XML})

    def report(self, path: str, body: str, depth: str | None = "1") -> Reply:
        headers = {"Content-Type": XML}
        if depth is not None:
            headers["Depth"] = depth
        return self.request("REPORT", path, body, headers)

    def put(self, path: str, ics: str, *, if_match: str | None = None, create: bool = False) -> Reply:
        headers = {"Content-Type": ICS}
        if create:
            headers["If-None-Match"] = "*"
        if if_match:
            headers["If-Match"] = if_match
        return self.request("PUT", path, ics, headers)

    def mkcalendar(self, path: str) -> Reply:
        return self.request("MKCALENDAR", path)

    def mkcol(self, path: str) -> Reply:
        return self.request("MKCOL", path)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def close(self) -> None:
        self.session.close()
