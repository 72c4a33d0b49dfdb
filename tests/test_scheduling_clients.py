"""Scheduling as Thunderbird and Apple Calendar drive it: capability detection, inbox polling,
processed inbox items deleted; requests shaped like theirs (see the design note on scheduling)."""
import pytest

from davutil import XML_HEADER, clark, multiget_body, multistatus, propfind
from schedutil import colleagues, copy_of, invitation


@pytest.fixture
def invited(engine, base_url):
    alice, bob = colleagues(engine, base_url, "tb", "tb")
    uid = f"client-{alice.name}"
    assert alice.put("personal/m.ics", invitation(uid, alice, [bob])).status_code == 201
    return alice, bob, uid


def test_thunderbird_detects_server_scheduling_on_the_calendar(user):
    # CalDavCalendar.sys.mjs: OPTIONS on the calendar, then the principal's three properties.
    dav = user.request("OPTIONS", "personal/").headers["DAV"]
    assert "calendar-auto-schedule" in [part.strip() for part in dav.split(",")]
    response, = propfind(user, "", "C:calendar-home-set", "C:calendar-user-address-set",
                         "C:schedule-inbox-URL", "C:schedule-outbox-URL")
    assert not response.missing


def test_thunderbird_polls_the_inbox_and_deletes_processed_items(invited):
    _, bob, uid = invited
    # pollInbox(): the inbox is synced like a calendar: Depth 1 etags, then a multiget.
    listing = bob.request("PROPFIND", "schedule-inbox/", XML_HEADER + '<D:propfind xmlns:D="DAV:">'
                          "<D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>",
                          Depth="1", **{"Content-Type": "application/xml"})
    assert listing.status_code == 207
    hrefs = [r.href for r in multistatus(listing.content)[0] if r.href.endswith(".ics")]
    assert len(hrefs) == 1
    got = bob.report("schedule-inbox/", multiget_body(hrefs))
    data, = [r.text("C:calendar-data") for r in multistatus(got.content)[0]]
    assert "METHOD:REQUEST" in data and f"UID:{uid}" in data
    assert bob.session.delete(bob.base_url + hrefs[0]).status_code in (200, 204)
    assert copy_of(bob, uid) is not None  # the calendar copy stays


def test_apple_polls_the_inbox_by_ctag_and_sync_token(invited):
    _, bob, _ = invited
    # poll_inbox_propfind.request: getctag and sync-token at Depth 0, then Depth 1 etags.
    response, = propfind(bob, "schedule-inbox/", "CS:getctag", "D:sync-token")
    assert response.text("CS:getctag") and response.text("D:sync-token")
    members = propfind(bob, "schedule-inbox/", "D:getetag", depth="1")
    assert len([m for m in members if m.href.endswith(".ics")]) == 1


def test_apple_reads_the_default_calendar_from_the_home_listing(user):
    responses = propfind(user, "", "C:schedule-default-calendar-URL", "D:resourcetype", depth="1")
    inbox = next(r for r in responses if r.href.endswith("/schedule-inbox/"))
    assert [h.text for h in inbox.props[clark("C:schedule-default-calendar-URL")]] == [f"/{user.name}/personal/"]
