"""No double booking under load: 16 clients on two ``planerix serve`` processes book one room for
overlapping times at once. The database decides (an exclusion constraint), not a check in Python."""
import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from conftest import ServeProcess
from roomutil import Team, partstats, room_invitation
from schedutil import copy_of, items, scheduling_user, unfolded
from waiting import wait_until

CLIENTS, SLOTS = 16, 4


@pytest.fixture
def racing_config(tmp_path):
    """Workers that take a job at once and look often: they race the writers' own deliveries."""
    path = tmp_path / "scheduling.ini"
    path.write_text("[scheduling]\nretry_after_seconds = 0\nworker_interval_seconds = 0.05\n")
    return str(path)


def _slot_times(client: int) -> tuple[int, str, str]:
    """Client k wants slot k % 4 (hour 9+slot), starting 0, 5, 10 or 15 minutes in, for 40
    minutes: the four requests of a slot all overlap each other, slots never overlap."""
    slot, shift = client % SLOTS, (client // SLOTS) * 5
    return slot, f"20270510T{9 + slot:02d}{shift:02d}00", f"20270510T{9 + slot:02d}{shift + 40:02d}00"


def test_sixteen_clients_on_two_processes_get_one_booking_per_slot(engine, database_url, racing_config):
    first = ServeProcess("--database-url", database_url, "--config", racing_config)
    try:
        second = ServeProcess("--database-url", database_url, "--config", racing_config)
        try:
            team = Team(engine, first.caldav_url, first.api_url, members=0)
            room = team.room(name="Contested room")
            clients = [scheduling_user(engine, (first, second)[k % 2].caldav_url, "booker") for k in range(CLIENTS)]
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO membership (organisation_id, account, role) "
                                     "SELECT CAST(:o AS uuid), unnest(CAST(:names AS text[])), 'member'"),
                             {"o": team.organisation, "names": [c.name for c in clients]})
            start = threading.Barrier(CLIENTS)
            statuses = [None] * CLIENTS

            def book(k: int) -> None:
                _, begin, end = _slot_times(k)
                body = room_invitation(f"race-{k}", clients[k], room, start=begin, end=end, summary=f"Race {k}")
                start.wait()
                statuses[k] = clients[k].put(f"personal/race-{k}.ics", body).status_code

            threads = [threading.Thread(target=book, args=(k,)) for k in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert statuses == [201] * CLIENTS

            def answers():
                found = {k: partstats(copy_of(clients[k], f"race-{k}"), room["address"])[""] for k in range(CLIENTS)}
                return found if "NEEDS-ACTION" not in found.values() else None

            answered = wait_until(answers, timeout=60, what="the room's answer to every request")
            for slot in range(SLOTS):
                in_slot = [answered[k] for k in range(CLIENTS) if _slot_times(k)[0] == slot]
                assert sorted(in_slot) == ["ACCEPTED", "DECLINED", "DECLINED", "DECLINED"], (slot, in_slot)
            for k, answer in answered.items():
                if answer == "DECLINED":
                    reply = next(t for t in items(clients[k], "schedule-inbox/").values()
                                 if f"race-{k}" in t and "METHOD:REPLY" in t)
                    assert "COMMENT:The room is already booked from 2027-05-10" in unfolded(reply)
        finally:
            second.stop()
    finally:
        first.stop()
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, count(*), count(reason) FROM resource_booking "
                                    "WHERE account = :a GROUP BY status ORDER BY status"),
                            {"a": room["account"]}).all()
        assert [tuple(r) for r in rows] == [("accepted", SLOTS, 0), ("declined", CLIENTS - SLOTS, CLIENTS - SLOTS)]
        overlapping = conn.execute(sa.text(
            "SELECT count(*) FROM resource_booking a JOIN resource_booking b ON a.account = b.account "
            "AND (a.uid, a.instance) < (b.uid, b.instance) AND a.span && b.span "
            "WHERE a.account = :a AND a.status = 'accepted' AND b.status = 'accepted'"), {"a": room["account"]}).scalar()
        assert overlapping == 0
        # Nothing half-written: one copy per request in the room's calendar, every job done once.
        copies = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT i.uid) FROM item i JOIN collection c ON c.id = i.collection_id "
            "WHERE c.path = :p"), {"p": f"{room['account']}/personal"}).one()
        assert tuple(copies) == (CLIENTS, CLIENTS)
        jobs = conn.execute(sa.text(
            "SELECT count(*), count(done), min(last_status), max(attempts) FROM schedule_job "
            "WHERE uid LIKE 'race-%' AND recipient_account = ANY(CAST(:names AS text[]))"),
            {"names": [room["account"]] + [c.name for c in clients]}).one()
        assert tuple(jobs) == (2 * CLIENTS, 2 * CLIENTS, "2.0;Success", 1)


def test_the_database_refuses_overlapping_accepted_bookings_whoever_writes_them(engine, base_url, api_server):
    team = Team(engine, base_url, api_server.url, members=0)
    room = team.room()
    insert = sa.text("INSERT INTO resource_booking (account, uid, instance, span, status) "
                     "VALUES (:a, :uid, '', tstzrange(:s, :e), :status)")
    with engine.begin() as conn:
        conn.execute(insert, {"a": room["account"], "uid": "one", "s": "2027-06-01T10:00Z",
                              "e": "2027-06-01T11:00Z", "status": "accepted"})
        # Declined and back-to-back occurrences do not collide.
        conn.execute(insert, {"a": room["account"], "uid": "two", "s": "2027-06-01T10:30Z",
                              "e": "2027-06-01T11:30Z", "status": "declined"})
        conn.execute(insert, {"a": room["account"], "uid": "three", "s": "2027-06-01T11:00Z",
                              "e": "2027-06-01T12:00Z", "status": "accepted"})
    with pytest.raises(sa.exc.IntegrityError, match="resource_booking_no_overlap"):
        with engine.begin() as conn:
            conn.execute(insert, {"a": room["account"], "uid": "four", "s": "2027-06-01T10:59Z",
                                  "e": "2027-06-01T11:01Z", "status": "accepted"})


def test_two_transactions_booking_at_once_without_any_lock_book_once(engine, base_url, api_server):
    """The constraint alone decides: with no advisory lock, a second transaction's INSERT waits
    for the first to commit and then skips the overlapping occurrence (no check-then-write)."""
    from scheduling import itip
    from storage_plugin import resources

    team = Team(engine, base_url, api_server.url, members=0)
    room = team.room()
    own, now = {room["address"]}, datetime(2026, 12, 2, tzinfo=timezone.utc)
    first_booked, second_started = threading.Event(), threading.Event()
    answers = {}

    def book(conn, uid: str, start: str, end: str):
        calendar = itip.parse(room_invitation(uid, team.admin, room, start=start, end=end))
        return resources.book(conn, room["account"], "ROOM", calendar, own, now, "accept-if-free")

    def first() -> None:
        with engine.begin() as conn:
            answers["first"] = book(conn, "tx-first", "20270601T100000", "20270601T110000")
            first_booked.set()
            assert second_started.wait(10)
        # committed here: the second transaction's INSERT, waiting on this row, goes on

    def second() -> None:
        assert first_booked.wait(10)
        second_started.set()
        with engine.begin() as conn:
            answers["second"] = book(conn, "tx-second", "20270601T103000", "20270601T113000")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    first_copy, _ = answers["first"]
    second_copy, reasons = answers["second"]
    assert partstats(first_copy.to_ical().decode(), room["address"]) == {"": "ACCEPTED"}
    assert partstats(second_copy.to_ical().decode(), room["address"]) == {"": "DECLINED"}
    assert reasons[""].startswith("The room is already booked")
