"""item.created / item.changed / item.deleted: calendar items linked to goals, written by a CalDAV
client, reach the goal organisation's webhooks (a real receiver on loopback), once per version,
recorded in the transaction of the write; unlinked items make no event."""
from __future__ import annotations

import json

import sqlalchemy as sa

from conftest import DavUser
from davutil import calendar, vtodo
from webhookutil import hook_loop, hook_sidecar, receiver  # noqa: F401 (fixtures)

ITEM_KINDS = ["item.created", "item.changed", "item.deleted"]


def _seq(engine, event_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT seq FROM automation_event WHERE id = CAST(:id AS uuid)"),
                            {"id": event_id}).scalar_one()


def linked_todo(uid: str, kr_id: str, summary: str = "Call the bank", extra: str = "") -> str:
    return calendar(vtodo(uid, summary).replace("END:VTODO", f"X-PLANERIX-KEY-RESULT:{kr_id}\r\n{extra}END:VTODO"))


def test_linked_items_reach_the_goal_organisations_webhooks(hook_sidecar, alice, org, base_url, receiver,
                                                             engine, api_user_factory):
    admin = hook_sidecar.user(alice)
    objective = admin.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Cash"})
    kr = admin.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Loan",
                                               "target_value": 1})
    hook = admin.ok("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(),
                                              "kinds": ITEM_KINDS})
    # Another organisation's webhook hears nothing of it.
    other_org = admin.ok("POST", "/api/organisations", {"name": "Other"})
    admin.ok("POST", "/api/webhooks", {"organisation_id": other_org["id"], "url": receiver.url("/other"),
                                       "kinds": ITEM_KINDS})
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("tasks", ("VTODO",))
    assert dav.put("tasks/plain.ics", calendar(vtodo("plain"))).status_code == 201  # no link: no event
    assert dav.put("tasks/loan.ics", linked_todo("loan", kr["id"])).status_code == 201
    assert dav.put("tasks/loan.ics", linked_todo("loan", kr["id"], extra="STATUS:COMPLETED\r\n")).status_code == 204
    # Unlinking is a change the goal's organisation hears of; after that the item is none of its business.
    assert dav.put("tasks/loan.ics", calendar(vtodo("loan", "Call the bank"))).status_code == 204
    assert dav.put("tasks/loan.ics", calendar(vtodo("loan", "Call the bank again"))).status_code == 204
    assert dav.put("tasks/loan.ics", linked_todo("loan", kr["id"])).status_code == 204
    assert dav.request("DELETE", "tasks/loan.ics").status_code in (200, 204)
    assert dav.request("DELETE", "tasks/plain.ics").status_code in (200, 204)
    hook_sidecar.run_due()
    hook_sidecar.run_due()  # nothing left: nothing sent twice
    # In the order the events were recorded (deliveries may arrive in another).
    bodies = sorted((json.loads(r.body) for r in receiver.at("/hook")), key=lambda body: _seq(engine, body["id"]))
    assert [b["kind"] for b in bodies] == ["item.created", "item.changed", "item.changed", "item.changed",
                                           "item.deleted"]
    assert receiver.at("/other") == []
    created, completed, unlinked, relinked, deleted = bodies
    href = f"/{alice.name}/tasks/loan.ics"
    assert created["subject"] == {"type": "item", "id": href[1:], "href": href}
    assert created["data"]["links"] == [{"kind": "key_result", "target_id": kr["id"], "weight": 1.0}]
    assert created["data"]["component"] == "VTODO" and created["data"]["status"] is None
    assert completed["data"]["status"] == "COMPLETED"
    assert unlinked["data"]["links"] == [] and relinked["data"]["links"] != []
    assert deleted["data"]["uid"] == "loan" and deleted["data"]["links"] == []
    assert [d["state"] for d in admin.ok("GET", f"/api/webhooks/{hook['id']}/deliveries")["items"]] == ["delivered"] * 5
    # One event per version, recorded with the write (none for the unlinked item).
    with engine.connect() as conn:
        subjects = list(conn.execute(sa.text(
            "SELECT DISTINCT subject_id FROM automation_event WHERE subject_type = 'item'"
            " AND subject_id LIKE :prefix"), {"prefix": f"{alice.name}/tasks/%"}).scalars())
    assert subjects == [href[1:]]


def test_an_answer_to_a_linked_meeting_is_an_invitation_replied_event(hook_sidecar, engine, base_url, receiver):
    import re

    from schedutil import colleagues, copy_of, invitation, items, unfolded

    alice, bob = colleagues(engine, base_url, "org", "att")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE membership SET role = 'admin' WHERE account = :a"), {"a": alice.name})
    admin = hook_sidecar.user(alice)
    org = admin.ok("GET", "/api/organisations")["items"][0]
    objective = admin.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Hire"})
    hook = admin.ok("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(),
                                              "kinds": ["invitation.replied"]})
    link = f"X-PLANERIX-OBJECTIVE:{objective['id']}\r\n"
    assert alice.put("personal/i.ics", invitation("hire-1", alice, [bob], extra=link)).status_code == 201
    href = next(h for h, t in items(bob, "personal/").items() if "hire-1" in t).rsplit("/", 1)[1]
    accepted = re.sub(rf"(ATTENDEE[^\r\n]*?)PARTSTAT=NEEDS-ACTION([^\r\n]*mailto:{re.escape(bob.email)})",
                      r"\1PARTSTAT=ACCEPTED\2", unfolded(copy_of(bob, "hire-1")), flags=re.I)
    assert bob.put(f"personal/{href}", accepted).status_code in (201, 204)
    hook_sidecar.run_due()
    hook_sidecar.run_due()
    [body] = [json.loads(r.body) for r in receiver.at("/hook")]
    assert body["kind"] == "invitation.replied"
    assert body["data"]["attendee"] == f"mailto:{bob.email}"
    assert body["data"]["answers"] == [{"recurrence_id": None, "partstat": "ACCEPTED"}]
    assert body["data"]["links"] == [{"kind": "objective", "target_id": objective["id"], "weight": 1.0}]
    assert body["subject"]["href"] == f"/{alice.name}/personal/i.ics"
    assert [d["state"] for d in admin.ok("GET", f"/api/webhooks/{hook['id']}/deliveries")["items"]] == ["delivered"]
