"""calendar-query and calendar-multiget answers kept per process by the calendar's revision
(server/answer_cache.py): asked again, the same bytes come without the database writing them;
every change of the calendar, whoever makes it, gives the fresh answer; rights are checked on
every request; gzip and identity answers are kept apart and agree."""
from __future__ import annotations

import gzip
import http.client
import uuid

import pytest
import requests

from conftest import new_user
from davutil import XML_HEADER, event
from server import answer_cache
from storage_plugin.collection import Collection

C_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
WEEK = (f'{XML_HEADER}<C:calendar-query {C_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20260105T000000Z" end="20260112T000000Z"/>'
        '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')


@pytest.fixture
def written(monkeypatch):
    """Answers the database wrote (one per calendar-query not served from the kept ones)."""
    calls = []
    original = Collection.render_filtered

    def counting(self, *args, **kwargs):
        calls.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "render_filtered", counting)
    return calls


def week(user, cal: str, encoding: str = "gzip") -> requests.Response:
    response = user.request("REPORT", cal, WEEK, Depth="1", **{"Content-Type": "application/xml",
                                                               "Accept-Encoding": encoding})
    assert response.status_code == 207, response.text
    return response


def raw_week(user, cal: str, encoding: str) -> tuple[dict, bytes]:
    """The answer as it crossed the wire (requests would decompress it)."""
    host = user.base_url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host)
    auth = requests.auth._basic_auth_str(user.name, user.password)
    connection.request("REPORT", f"/{user.name}/{cal}", WEEK.encode(), {
        "Depth": "1", "Content-Type": "application/xml", "Accept-Encoding": encoding, "Authorization": auth})
    reply = connection.getresponse()
    body = reply.read()
    connection.close()
    assert reply.status == 207
    return {k.lower(): v for k, v in reply.getheaders()}, body


def test_asked_again_the_answer_is_kept_until_the_calendar_changes(user, written):
    cal = user.mkcalendar("week")
    uids = [f"w-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for i, uid in enumerate(uids):
        assert user.put(f"{cal}{uid}.ics", event(uid, start=f"2026010{6 + i}T100000Z",
                                                  end=f"2026010{6 + i}T110000Z")).status_code == 201
    first = week(user, cal)
    assert all(uid in first.text for uid in uids) and len(written) == 1
    again = week(user, cal)
    assert again.content == first.content and len(written) == 1  # kept: the database wrote nothing
    # A change (through the server here; another process's write reads alike: the revision is the
    # database's) gives the fresh answer.
    new = f"w-new-{uuid.uuid4().hex[:6]}"
    assert user.put(f"{cal}{new}.ics", event(new, start="20260109T100000Z", end="20260109T110000Z")).status_code == 201
    after_put = week(user, cal)
    assert new in after_put.text and len(written) == 2
    assert user.request("DELETE", f"{cal}{uids[0]}.ics").status_code in (200, 204)
    after_delete = week(user, cal)
    assert uids[0] not in after_delete.text and new in after_delete.text and len(written) == 3
    changed = event(uids[1], summary="Moved out of the week", start="20260201T100000Z", end="20260201T110000Z")
    assert user.put(f"{cal}{uids[1]}.ics", changed).status_code == 204
    assert uids[1] not in week(user, cal).text and len(written) == 4


def test_gzip_and_identity_are_kept_apart_and_agree(user, written):
    """Answers of 1 KiB and more go gzipped to clients accepting it, smaller ones as they are
    (server.compression); kept, each goes again as it went the first time."""
    big, small = user.mkcalendar("enc"), user.mkcalendar("small")
    uids = [f"e-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for uid in uids:
        assert user.put(f"{big}{uid}.ics", event(uid, start="20260106T100000Z", end="20260106T110000Z")).status_code == 201
    assert user.put(f"{small}{uids[0]}.ics", event(uids[0], start="20260106T100000Z",
                                                   end="20260106T110000Z")).status_code == 201
    for cal, compressed in ((big, True), (small, False)):
        written.clear()
        answers = {}
        for round_ in range(2):
            for encoding in ("gzip", "identity"):
                headers, body = raw_week(user, cal, encoding)
                if encoding == "gzip" and compressed:
                    assert headers.get("content-encoding") == "gzip"
                    body = gzip.decompress(body)
                else:
                    assert "content-encoding" not in headers
                assert int(headers["content-length"]) > 0
                answers.setdefault(encoding, []).append(body)
        assert len(written) == 2  # once per encoding
        assert answers["gzip"][0] == answers["gzip"][1] == answers["identity"][0] == answers["identity"][1]
        assert uids[0].encode() in answers["gzip"][0]
        assert (len(answers["gzip"][0]) >= 1024) == compressed


def test_rights_are_checked_before_a_kept_answer_is_served(engine, base_url, user, written):
    cal = user.mkcalendar("private")
    uid = f"p-{uuid.uuid4().hex[:6]}"
    assert user.put(f"{cal}{uid}.ics", event(uid, "Salary talk", start="20260106T100000Z",
                                             end="20260106T110000Z")).status_code == 201
    assert "Salary talk" in week(user, cal).text
    stranger = new_user(engine, base_url, "stranger")
    url = f"{base_url}/{user.name}/{cal}"
    response = stranger.session.request("REPORT", url, data=WEEK.encode(),
                                        headers={"Depth": "1", "Content-Type": "application/xml"})
    assert response.status_code in (403, 404) and "Salary talk" not in response.text
    anonymous = requests.request("REPORT", url, data=WEEK.encode(),
                                 headers={"Depth": "1", "Content-Type": "application/xml"})
    assert anonymous.status_code == 401 and "Salary talk" not in anonymous.text


def test_the_kept_answers_are_bounded_by_bytes():
    answers = answer_cache.Answers(max_bytes=1000)
    for i in range(10):
        answers.put(("k", i), [b"x" * 300], 0)
    assert len(answers) == 3 and answers.get(("k", 9)) is not None and answers.get(("k", 0)) is None
    answers.put(("big",), [b"x" * 1001], 0)
    assert answers.get(("big",)) is None  # larger than the whole budget: never kept


def test_empty_values_count_toward_the_bound():
    """An empty value still takes memory (its key): a store of them stays bounded."""
    from storage_plugin.kept import Kept

    kept: Kept[list] = Kept(100, len)
    for n in range(1000):
        kept.put(n, [])
    assert len(kept) == 100 and kept.get(999) == [] and kept.get(0) is None
