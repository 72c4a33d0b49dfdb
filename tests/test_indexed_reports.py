"""calendar-query with UID filters from the uid column (storage_plugin.indexed_filters) and
calendar-query / calendar-multiget answers filled from stored texts (server.fast_report)
answer byte for byte what Radicale's generic code answers, which parses every item.

Every request goes to the usual server and to one with fast paths and indexed filters off
(tests/pairutil.py); a counter on ``fast_listing._answer`` shows which took the fast path,
and a counter on Radicale's ``comp_match`` shows that nothing was parsed to decide a filter.
"""
from __future__ import annotations

import uuid

import caldav
import pytest
import requests
from radicale.item import filter as radicale_filter

from davutil import BERLIN, XML_HEADER, calendar, vevent, vtodo
from pairutil import Pair, fast_calls, generic_server, pair  # noqa: F401 (fixtures)
from storage_plugin import indexed_filters

C_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
FOLDED = "DESCRIPTION:" + "A long line, folded by the serializer & kept <as> is; " * 8


@pytest.fixture
def parsed(monkeypatch):
    """Items Radicale tested against a filter by parsing them (either server)."""
    calls = []
    original = radicale_filter.comp_match

    def counting(item, filter_, level=0):
        if level == 0:
            calls.append(item.href)
        return original(item, filter_, level)

    monkeypatch.setattr(radicale_filter, "comp_match", counting)
    return calls


def items(tag: str) -> dict[str, str]:
    """Names → bodies: recurring with an override, a task, a time zone, folded lines,
    XML specials, UIDs with upper case and characters beyond ASCII, an unbounded series."""
    recurring = (vevent(f"Rec-Über-{tag}", "Weekly", "20260105T090000Z", "20260105T100000Z",
                        "RRULE:FREQ=WEEKLY;COUNT=6\r\n")
                 + vevent(f"Rec-Über-{tag}", "Moved & <late>", "20260112T150000Z", "20260112T160000Z",
                          "RECURRENCE-ID:20260112T090000Z\r\n"))
    zoned = (BERLIN.replace("\n", "\r\n") + "\r\n"
             + "BEGIN:VEVENT\r\nUID:zoned-" + tag + "\r\nDTSTAMP:20260101T000000Z\r\n"
             "DTSTART;TZID=Europe/Berlin:20260107T180000\r\nDTEND;TZID=Europe/Berlin:20260107T190000\r\n"
             "SUMMARY:Zoned <b>&amp;</b> ünïcode\r\n" + FOLDED + "\r\nEND:VEVENT\r\n")
    return {
        "plain.ics": calendar(vevent(f"Ev-Alpha-{tag}", "Plain")),
        "with space.ics": calendar(recurring),
        "ümlaut-ß.ics": calendar(zoned),
        "a&b<c>.ics": calendar(vevent(f"kelvin-\u212a-{tag}", "Kelvin sign in the UID")),
        "task.ics": calendar(vtodo(f"todo-{tag}")),
        "allday.ics": calendar(vevent(f"allday-{tag}", "All day", "20260108", "20260109")
                               .replace("DTSTART:", "DTSTART;VALUE=DATE:").replace("DTEND:", "DTEND;VALUE=DATE:")),
        "forever.ics": calendar(vevent(f"pct%_x-{tag}", "Unbounded", "20260106T070000Z", "20260106T073000Z",
                                       "RRULE:FREQ=DAILY\r\n")),
    }


def fill(user, cal: str) -> str:
    tag = uuid.uuid4().hex[:6]
    for name, ics in items(tag).items():
        response = user.put(f"{cal}{requests.utils.quote(name)}", ics)
        assert response.status_code == 201, (name, response.text)
    return tag


def query(component: str, inner: str, props: str = "<D:getetag/><C:calendar-data/>") -> str:
    return (f"{XML_HEADER}<C:calendar-query {C_NS}><D:prop>{props}</D:prop><C:filter>"
            f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">{inner}'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def uid_filter(text: str, **attributes: str) -> str:
    attrs = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attributes.items())
    return f'<C:prop-filter name="UID"><C:text-match{attrs}>{text}</C:text-match></C:prop-filter>'


def hrefs(response) -> int:
    return response.text.count("<response>")


def test_uid_filters_equal_radicale_without_parsing(pair, fast_calls, parsed):
    cal = pair.user.mkcalendar("uids")
    tag = fill(pair.user, cal)
    window = '<C:time-range start="20260101T000000Z" end="20260201T000000Z"/>'
    cases = [  # (component, filter children, hrefs expected)
        ("VEVENT", uid_filter(f"Ev-Alpha-{tag}"), 1),
        ("VEVENT", uid_filter(f"ev-alpha-{tag}".upper()), 1),  # i;ascii-casemap, the default
        ("VEVENT", uid_filter(f"ev-alpha-{tag}", collation="i;ascii-casemap"), 1),
        ("VEVENT", uid_filter(f"Ev-Alpha-{tag}", collation="i;octet"), 1),
        ("VEVENT", uid_filter(f"ev-alpha-{tag}", collation="i;octet"), 0),
        ("VEVENT", uid_filter(tag), 6),  # contains
        ("VEVENT", uid_filter(f"Ev-Alpha-{tag}", negate_condition="yes"), 5),
        ("VEVENT", uid_filter(f"rec-über-{tag}"), 1),  # beyond ASCII, lower-cased by Python
        ("VEVENT", uid_filter(f"REC-ÜBER-{tag}", collation="i;octet"), 0),
        ("VEVENT", uid_filter("kelvin-k"), 1),  # KELVIN SIGN lower-cases to k
        ("VEVENT", uid_filter("pct%_"), 1),  # LIKE wildcards are plain characters
        ("VEVENT", uid_filter("pct%_x", collation="i;octet"), 1),  # (i;octet is a LIKE pattern)
        ("VEVENT", uid_filter("pct__x", collation="i;octet"), 0),
        ("VEVENT", uid_filter("%", collation="i;octet"), 1),
        ("VEVENT", uid_filter(""), 6),
        ("VEVENT", '<C:prop-filter name="uid"/>', 6),  # defined: always
        ("VEVENT", uid_filter(tag) + uid_filter("alpha"), 1),
        ("VEVENT", '<C:prop-filter name="UID"><C:text-match>ev</C:text-match>'
                   '<C:text-match negate-condition="yes">alpha</C:text-match></C:prop-filter>', 0),
        ("VTODO", uid_filter(f"todo-{tag}"), 1),
        ("VTODO", uid_filter(f"Ev-Alpha-{tag}"), 0),
        ("VEVENT", window + uid_filter(tag), 6),
        ("VEVENT", '<C:time-range start="20260107T000000Z" end="20260108T000000Z"/>' + uid_filter("z"), 1),
    ]
    for component, inner, expected in cases:
        for props in ("<D:getetag/><C:calendar-data/>", "<D:getetag/>"):
            fast_calls.clear()
            response = pair.same("REPORT", cal, query(component, inner, props), Depth="1")
            assert response.status_code == 207 and hrefs(response) == expected, (inner, response.text)
            assert len(fast_calls) == 1, inner
    # The same requests parse every item on the generic server, none on the usual one.
    parsed.clear()
    pair.user.report(cal, query("VEVENT", uid_filter(f"Ev-Alpha-{tag}")))
    assert parsed == []
    pair.generic.request("REPORT", f"{pair.generic_base}/{pair.user.name}/{cal}",
                         data=query("VEVENT", uid_filter(f"Ev-Alpha-{tag}")).encode(), headers={"Depth": "1"})
    assert len(parsed) == 6
    # Radicale's own path, with the same answers: filters the columns do not answer.
    for inner in (uid_filter("x") + window,  # Radicale reads a time range first only
                  '<C:prop-filter name="UID"><C:is-not-defined/></C:prop-filter>',
                  '<C:prop-filter name="SUMMARY"><C:text-match>Plain</C:text-match></C:prop-filter>',
                  '<C:prop-filter name="UID"><C:param-filter name="X"/></C:prop-filter>'):
        pair.same("REPORT", cal, query("VEVENT", inner), Depth="1")


def test_calendar_query_and_multiget_equal_radicale(pair, fast_calls):
    cal = pair.user.mkcalendar("texts")
    fill(pair.user, cal)
    full = (f"{XML_HEADER}<C:calendar-query {C_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
    unfiltered = f"{XML_HEADER}<C:calendar-query {C_NS}><D:prop><C:calendar-data/><D:getetag/></D:prop></C:calendar-query>"
    requests_ = [
        (full, 7), (unfiltered, 7),
        (query("VEVENT", "", "<D:getetag/><C:calendar-data/><D:getcontenttype/><D:displayname/>"), 6),
        (query("VTODO", ""), 1),
        (query("VEVENT", '<C:time-range start="20260105T000000Z" end="20260113T000000Z"/>'), 4),
        (query("VEVENT", '<C:time-range start="20260112T153000Z" end="20260112T154000Z"/>'), 1),  # the override
        (query("VEVENT", '<C:time-range start="20310101T000000Z" end="20310102T000000Z"/>'), 1),  # beyond the index
        (query("VEVENT", '<C:time-range start="20260107T170000Z"/>'), 4),
        (query("VEVENT", "", "<D:getetag/><C:calendar-data/><C:calendar-data/>"), 6),
    ]
    for body, expected in requests_:
        fast_calls.clear()
        response = pair.same("REPORT", cal, body, Depth="1")
        assert hrefs(response) == expected, (body, response.text)
        assert len(fast_calls) == 1, body
    names = [requests.utils.quote(f"/{pair.user.name}/{cal}{name}") for name in items("x")]
    for props in ("<D:getetag/><C:calendar-data/>", "<D:getetag/>", "<C:calendar-data/><D:getcontenttype/><X:other/>",
                  ""):
        body = (f'{XML_HEADER}<C:calendar-multiget {C_NS} xmlns:X="urn:x"><D:prop>{props}</D:prop>'
                + "".join(f"<D:href>{h}</D:href>" for h in names + [f"/{pair.user.name}/{cal}nothing.ics"])
                + "</C:calendar-multiget>")
        fast_calls.clear()
        response = pair.same("REPORT", cal, body, Depth="1")
        # Without properties Radicale answers only the missing href.
        assert hrefs(response) == (8 if props else 1) and "HTTP/1.1 404" in response.text
        assert len(fast_calls) == 1, props
    # What GET returns is what the answers carry.
    got = pair.user.request("GET", f"{cal}plain.ics").text
    assert got.replace("\r\n", "\n") in pair.same("REPORT", cal, full, Depth="1").text.replace("\r\n", "\n")
    # Radicale's own path, with the same answers.
    fast_calls.clear()
    expand = query("VEVENT", '<C:time-range start="20260105T000000Z" end="20260113T000000Z"/>',
                   '<C:calendar-data><C:expand start="20260105T000000Z" end="20260113T000000Z"/></C:calendar-data>')
    partial = query("VEVENT", "", '<C:calendar-data><C:comp name="VCALENDAR"/></C:calendar-data>')
    whole = (f'{XML_HEADER}<C:calendar-multiget {C_NS}><D:prop><D:getetag/></D:prop>'
             f"<D:href>/{pair.user.name}/{cal}</D:href></C:calendar-multiget>")
    malformed = whole.replace(f"/{pair.user.name}/{cal}</D:href>", "http://[x</D:href>")
    for body in (expand, partial, whole, malformed):
        pair.same("REPORT", cal, body, Depth="1")
    pair.same("REPORT", f"{cal}plain.ics", full, Depth="0")
    assert fast_calls == []


def test_occurrence_limit_is_radicales(engine, database_url, user, fast_calls):
    """Over ``max_expand_occurrence`` VEVENTs, Radicale's refusal (400) stands."""
    from conftest import start_caldav_server
    limited = start_caldav_server(database_url, {"reporting": {"max_expand_occurrence": "3"}})
    try:
        cal = user.mkcalendar("limited")
        fill(user, cal)
        url = f"http://127.0.0.1:{limited.port}/{user.name}/{cal}"
        body = query("VEVENT", "")
        assert user.session.request("REPORT", url, data=body.encode(), headers={"Depth": "1"}).status_code == 400
        small = query("VEVENT", uid_filter("Alpha"))
        fast_calls.clear()
        assert user.session.request("REPORT", url, data=small.encode(), headers={"Depth": "1"}).status_code == 207
        assert len(fast_calls) == 1
    finally:
        limited.stop()


def test_event_by_uid_of_the_caldav_library_parses_nothing(user, parsed, monkeypatch):
    cal = user.mkcalendar("library")
    tag = fill(user, cal)
    analysed = []
    original = indexed_filters.analyse
    monkeypatch.setattr(indexed_filters, "analyse",
                        lambda *args: analysed.append(original(*args)) or analysed[-1])
    with caldav.DAVClient(url=user.url(), username=user.name, password=user.password) as client:
        calendar_ = client.calendar(url=user.url(cal))
        parsed.clear()
        found = calendar_.event_by_uid(f"Rec-Über-{tag}")
        assert "Moved &amp; <late>" not in found.data and "Moved & <late>" in found.data
        assert calendar_.todo_by_uid(f"todo-{tag}").data.count("BEGIN:VTODO") == 1
        with pytest.raises(caldav.lib.error.NotFoundError):
            calendar_.event_by_uid(f"missing-{tag}")
    assert parsed == []
    assert [(f.component, [t.text for t in f.uid_tests]) for f in analysed] == [
        ("VEVENT", [f"Rec-Über-{tag}"]), ("VTODO", [f"todo-{tag}"]), ("VEVENT", [f"missing-{tag}"])]
