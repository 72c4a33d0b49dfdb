"""Links between calendar items and goals: through the API and through plain CalDAV, the index,
tasks progress, time invested, the agenda, and rights."""
import threading
import uuid
from datetime import timedelta

import pytest

from conftest import DavUser
from davutil import calendar, multistatus, sync_body, vevent
from storage_plugin import links


@pytest.fixture
def people(api_user_factory, base_url):
    """alice (owner of an organisation, with a calendar and a task list) and bob (a member)."""
    alice, bob = api_user_factory("alice"), api_user_factory("bob")
    org = alice.ok("POST", "/api/organisations", {"name": "Linked"})
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Ship"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Tasks done",
                                               "target_value": 1, "progress_mode": "tasks"})
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("work", ("VEVENT",))
    dav.mkcalendar("tasks", ("VTODO",))
    return {"alice": alice, "bob": bob, "org": org, "objective": objective, "kr": kr, "dav": dav,
            "bob_dav": DavUser(base_url, bob.name, bob.password)}


def task(uid: str, status: str | None = None, percent: int | None = None, extra: str = "") -> str:
    lines = f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260105T120000Z\r\nSUMMARY:Task {uid}\r\n"
    if status:
        lines += f"STATUS:{status}\r\n"
    if percent is not None:
        lines += f"PERCENT-COMPLETE:{percent}\r\n"
    return calendar(lines + extra + "END:VTODO\r\n")


def kr_line(kr_id: str, weight: float | None = None) -> str:
    return f"X-PLANERIX-KEY-RESULT{';X-WEIGHT=' + str(weight) if weight is not None else ''}:{kr_id}\r\n"


def sync_token(dav, path: str) -> str:
    response = dav.report(path, sync_body())
    return multistatus(response.content)[1].find("{DAV:}sync-token").text


def test_link_through_the_api_rewrites_the_item_for_every_client(people):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    assert dav.put("tasks/t1.ics", task("t1")).status_code == 201
    before_etag = dav.request("GET", "tasks/t1.ics").headers["ETag"]
    token = sync_token(dav, "tasks/")
    linked = alice.ok("POST", "/api/links", {"calendar": f"/{alice.name}/tasks/", "uid": "t1",
                                             "target_kind": "key_result", "target_id": kr["id"], "weight": 2},
                      status=200)
    assert linked["etag"] != before_etag and linked["href"] == "t1.ics"
    assert linked["links"] == [{"target_kind": "key_result", "target_id": kr["id"], "weight": 2.0,
                                "title": "Tasks done", "dangling": False}]
    got = dav.request("GET", "tasks/t1.ics")
    assert got.headers["ETag"] == linked["etag"]
    body = got.text.replace("\r\n ", "")
    assert f"X-PLANERIX-KEY-RESULT;X-WEIGHT=2:{kr['id']}" in body
    assert f"LINK;LABEL=Tasks done;LINKREL=related;VALUE=URI:urn:uuid:{kr['id']}" in body
    changes = multistatus(dav.report("tasks/", sync_body(token)).content)[0]
    assert [r.href.rsplit("/", 1)[-1] for r in changes] == ["t1.ics"]
    # Unlinking removes both properties and the index entry.
    unlinked = alice.ok("DELETE", "/api/links", None, status=200, calendar=f"/{alice.name}/tasks/", uid="t1",
                        target_kind="key_result", target_id=kr["id"])
    assert unlinked["links"] == []
    assert "PLANERIX" not in dav.request("GET", "tasks/t1.ics").text
    again = alice.call("DELETE", "/api/links", calendar=f"/{alice.name}/tasks/", uid="t1",
                       target_kind="key_result", target_id=kr["id"])
    assert again.status_code == 404 and "not linked" in again.json()["detail"]


def test_links_from_a_plain_caldav_put_count_and_dropping_the_property_unlinks(people):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    dav.put("tasks/done.ics", task("done", "COMPLETED", extra=kr_line(kr["id"], 3)))
    dav.put("tasks/half.ics", task("half", percent=50, extra=kr_line(kr["id"])))
    dav.put("tasks/gone.ics", task("gone", "CANCELLED", extra=kr_line(kr["id"], 10)))
    listed = alice.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])
    assert {i["uid"]: (i["completion"], i["weight"]) for i in listed["items"]} == {
        "done": (1.0, 3.0), "half": (0.5, 1.0), "gone": (None, 10.0)}
    assert listed["title"] == "Tasks done" and listed["dangling"] is False
    # Tasks mode: weighted completion of linked tasks, cancelled ones excluded: (3*1 + 1*0.5) / 4.
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx(0.875)
    assert alice.ok("GET", f"/api/objectives/{people['objective']['id']}")["progress"] == pytest.approx(0.875)
    # A client edit that drops the property unlinks.
    dav.put("tasks/done.ics", task("done", "COMPLETED"))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx(0.5)
    dav.request("DELETE", "tasks/half.ics")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] is None  # only a cancelled task left
    assert [i["uid"] for i in alice.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])["items"]] == ["gone"]
    # The kept totals return exactly to the start when every task goes.
    dav.request("DELETE", "tasks/gone.ics")
    dav.put("tasks/new.ics", task("new", percent=30, extra=kr_line(kr["id"], 0.1)))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx(0.3)


def test_links_follow_a_move(people):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    dav.mkcalendar("archive", ("VTODO",))
    dav.put("tasks/m.ics", task("m", extra=kr_line(kr["id"])))
    moved = dav.request("MOVE", "tasks/m.ics", Destination=dav.url("archive/m.ics"))
    assert moved.status_code == 201
    items = alice.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])["items"]
    assert [(i["calendar"], i["href"]) for i in items] == [(f"/{alice.name}/archive/", "m.ics")]


def test_malformed_link_values_are_ignored_not_refused(people, caplog):
    alice, dav = people["alice"], people["dav"]
    extra = ("X-PLANERIX-KEY-RESULT:not-a-uuid\r\nX-PLANERIX-KPI;X-WEIGHT=heavy:"
             f"{uuid.uuid4()}\r\nX-PLANERIX-PROJECT:apollo\r\n")
    with caplog.at_level("WARNING", logger="planerix.links"):
        assert dav.put("tasks/bad.ics", task("bad", extra=extra)).status_code == 201
    assert "not-a-uuid" in caplog.text and "heavy" in caplog.text
    found = alice.ok("GET", "/api/item-links", calendar=f"/{alice.name}/tasks/", href="bad.ics")["links"]
    assert found == [{"target_kind": "project", "target_id": "apollo", "weight": 1.0, "title": "apollo",
                      "dangling": False}]


def test_only_tasks_of_members_move_a_key_result(people, api_user_factory, base_url):
    """Anyone may write a key result's id into a task; it counts only while they are a member."""
    alice, dav, kr, org = people["alice"], people["dav"], people["kr"], people["org"]
    dav.put("tasks/half.ics", task("half", percent=50, extra=kr_line(kr["id"])))
    stranger = api_user_factory("stranger")
    stranger_dav = DavUser(base_url, stranger.name, stranger.password)
    stranger_dav.mkcalendar("tasks", ("VTODO",))
    stranger_dav.put("tasks/push.ics", task("push", "COMPLETED", extra=kr_line(kr["id"], 100)))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx(0.5)
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": stranger.name, "role": "member"})
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx((0.5 + 100) / 101)
    alice.call("DELETE", f"/api/organisations/{org['id']}/members/{stranger.name}")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == pytest.approx(0.5)

def test_dangling_links_are_kept_and_reported(people):
    alice, dav = people["alice"], people["dav"]
    future = str(uuid.uuid4())
    dav.put("tasks/early.ics", task("early", extra=kr_line(future)))
    listed = alice.ok("GET", "/api/links", target_kind="key_result", target_id=future)
    assert listed["dangling"] is True and [i["uid"] for i in listed["items"]] == ["early"]
    refused = alice.call("POST", "/api/links", {"calendar": f"/{alice.name}/tasks/", "uid": "early",
                                                "target_kind": "key_result", "target_id": future})
    assert refused.status_code == 422 and "in your organisations" in refused.json()["detail"]


def test_rights_on_links(people, api_user_factory):
    alice, bob, kr, dav = people["alice"], people["bob"], people["kr"], people["dav"]
    dav.put("tasks/private.ics", task("private", extra=kr_line(kr["id"])))
    # Bob may see the key result but not Alice's calendar: her item is not listed for him.
    assert bob.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])["items"] == []
    assert bob.call("GET", "/api/item-links", calendar=f"/{alice.name}/tasks/", uid="private").status_code == 404
    write = bob.call("POST", "/api/links", {"calendar": f"/{alice.name}/tasks/", "uid": "private",
                                            "target_kind": "key_result", "target_id": kr["id"]})
    assert write.status_code in (403, 404) and write.headers["Content-Type"].startswith("application/problem+json")
    stranger = api_user_factory("stranger")
    # To an outsider a goal of another organisation is indistinguishable from one that does not exist.
    foreign = stranger.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])
    missing = stranger.ok("GET", "/api/links", target_kind="key_result", target_id=str(uuid.uuid4()))
    assert foreign["items"] == missing["items"] == [] and foreign["title"] is missing["title"] is None
    assert foreign["dangling"] is missing["dangling"] is True
    spent = stranger.ok("GET", "/api/time-invested", target_kind="objective", target_id=people["objective"]["id"],
                        start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    assert spent["total_hours"] == 0 and spent["weeks"] == []


def test_if_match_and_a_concurrent_client_edit(people):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    dav.put("tasks/race.ics", task("race"))
    stale = dav.request("GET", "tasks/race.ics").headers["ETag"]
    # A client edits first; the API call that still holds the old ETag gets 412, nothing lost.
    assert dav.put("tasks/race.ics", task("race", percent=40), If_Match=stale).status_code == 204
    refused = alice.session.post(alice.api_url + "/api/links", headers={"If-Match": stale},
                                 json={"calendar": f"/{alice.name}/tasks/", "uid": "race",
                                       "target_kind": "key_result", "target_id": kr["id"]})
    assert refused.status_code == 412
    assert "PERCENT-COMPLETE:40" in dav.request("GET", "tasks/race.ics").text
    # Racing: the API link and a client PUT with the same If-Match; exactly one wins.
    current = dav.request("GET", "tasks/race.ics").headers["ETag"]
    results = {}

    def api_link():
        results["api"] = alice.session.post(alice.api_url + "/api/links", headers={"If-Match": current},
                                            json={"calendar": f"/{alice.name}/tasks/", "uid": "race",
                                                  "target_kind": "key_result", "target_id": kr["id"]}).status_code

    def client_edit():
        results["dav"] = dav.put("tasks/race.ics", task("race", percent=90), If_Match=current).status_code

    threads = [threading.Thread(target=api_link), threading.Thread(target=client_edit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 412] or sorted(results.values()) == [204, 412], results
    text = dav.request("GET", "tasks/race.ics").text
    if results["api"] == 200:
        assert kr["id"] in text and "PERCENT-COMPLETE:40" in text
    else:
        assert "PERCENT-COMPLETE:90" in text and kr["id"] not in text


def test_time_invested_expands_recurrences_overrides_and_exdates(people):
    alice, dav, kr, objective = people["alice"], people["dav"], people["kr"], people["objective"]
    link = kr_line(kr["id"])
    weekly = calendar(
        vevent("standup", start="20260105T090000Z", end="20260105T093000Z",
               extra="RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:20260112T090000Z\r\n" + link),
        vevent("standup", start="20260119T090000Z", end="20260119T110000Z",
               extra="RECURRENCE-ID:20260119T090000Z\r\n" + link))
    assert dav.put("work/standup.ics", weekly).status_code == 201
    dav.put("work/review.ics", calendar(vevent("review", start="20260106T130000Z", end="20260106T150000Z",
                                               extra=f"X-PLANERIX-OBJECTIVE:{objective['id']}\r\n")))
    dav.put("work/other.ics", calendar(vevent("other", start="20260106T130000Z", end="20260106T170000Z")))
    result = alice.ok("GET", "/api/time-invested", target_kind="key_result", target_id=kr["id"],
                      start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    # Jan 5 0.5 h; Jan 12 excluded; Jan 19 overridden to 2 h; Jan 26 0.5 h.
    assert [(w["week_start"][:10], w["hours"]) for w in result["weeks"]] == [
        ("2026-01-05", 0.5), ("2026-01-19", 2.0), ("2026-01-26", 0.5)]
    assert result["total_hours"] == 3.0
    # The objective counts its own links and its key results' (each event once).
    by_objective = alice.ok("GET", "/api/time-invested", target_kind="objective", target_id=objective["id"],
                            start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    assert by_objective["total_hours"] == 5.0
    clipped = alice.ok("GET", "/api/time-invested", target_kind="key_result", target_id=kr["id"],
                       start="2026-01-19T10:00:00Z", end="2026-01-20T00:00:00Z")
    assert clipped["total_hours"] == 1.0


def test_agenda_merges_events_tasks_and_deadlines_and_flags_conflicts(people, frozen_clock):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    day = frozen_clock.date() + timedelta(days=3)
    stamp = day.strftime("%Y%m%d")
    dav.put("work/a.ics", calendar(vevent("a", "Planning", start=f"{stamp}T090000Z", end=f"{stamp}T100000Z",
                                          extra=kr_line(kr["id"]))))
    dav.put("work/b.ics", calendar(vevent("b", "Overlap", start=f"{stamp}T093000Z", end=f"{stamp}T103000Z")))
    dav.put("work/c.ics", calendar(vevent("c", "Later", start=f"{stamp}T110000Z", end=f"{stamp}T120000Z")))
    dav.put("tasks/due.ics", calendar(
        f"BEGIN:VTODO\r\nUID:due\r\nDTSTAMP:20260101T000000Z\r\nDUE:{stamp}T170000Z\r\nSUMMARY:Report\r\nEND:VTODO\r\n"))
    alice.ok("PATCH", f"/api/key-results/{kr['id']}", {"due_date": str(day)})
    agenda = alice.ok("GET", "/api/agenda", start=f"{day}T00:00:00Z", end=f"{day + timedelta(days=1)}T00:00:00Z")
    entries = agenda["entries"]
    assert [(e["kind"], e["title"]) for e in entries] == [
        ("key_result_due", "Tasks done"), ("event", "Planning"), ("event", "Overlap"), ("event", "Later"),
        ("task", "Report")]
    planning, overlap, later = entries[1], entries[2], entries[3]
    assert planning["conflicts"] == [2] and overlap["conflicts"] == [1] and later["conflicts"] == []
    assert [link["target_id"] for link in planning["links"]] == [kr["id"]]
    assert agenda["truncated"] is False
    assert people["bob"].ok("GET", "/api/agenda", start=f"{day}T00:00:00Z",
                            end=f"{day + timedelta(days=1)}T00:00:00Z")["entries"] == [entries[0]]


def test_rewrite_round_trip_keeps_other_properties():
    text = calendar(vevent("x", extra="X-OTHER:keep\r\nLINK;LINKREL=related;VALUE=URI:https://example.org\r\n"))
    target = str(uuid.uuid4())
    added = links.rewrite(text, "VEVENT", "key_result", target, weight=0.5, label="A, B")
    assert "X-OTHER:keep" in added and "https://example.org" in added
    removed = links.rewrite(added, "VEVENT", "key_result", target)
    assert target not in removed and "X-OTHER:keep" in removed and "https://example.org" in removed


def test_linked_items_are_paged(people):
    alice, dav, kr = people["alice"], people["dav"], people["kr"]
    for n in range(5):
        dav.put(f"tasks/p{n}.ics", task(f"p{n}", extra=kr_line(kr["id"])))
    seen, cursor = [], None
    while True:
        page = alice.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"], limit=2,
                        **({"cursor": cursor} if cursor else {}))
        seen += [i["uid"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"p{n}" for n in range(5)]
