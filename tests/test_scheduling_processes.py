"""Two ``planerix serve`` processes on one database: an invitation to 20 attendees is delivered
exactly once to each, whether the organizer's process delivers it or dies right after the commit
and the other process's worker takes over."""
import sqlalchemy as sa
import pytest
import requests

from conftest import ServeProcess
from schedutil import copy_of, invitation, items, scheduling_user, share_organisation, unfolded
from server.scheduling.delivery import EXIT_AFTER_COMMIT_ENV
from waiting import wait_until

ATTENDEES = 20


@pytest.fixture
def racing_config(tmp_path):
    """Workers that take a job at once and look often: they race the writer's own delivery."""
    path = tmp_path / "scheduling.ini"
    path.write_text("[scheduling]\nretry_after_seconds = 0\nworker_interval_seconds = 0.05\n")
    return str(path)


def _exactly_once(engine, attendees, uid: str) -> None:
    for attendee in attendees:
        copies = [t for t in items(attendee, "personal/").values() if f"UID:{uid}" in t]
        inbox = [t for t in items(attendee, "schedule-inbox/").values() if f"UID:{uid}" in t]
        assert len(copies) == 1 and len(inbox) == 1, (attendee.name, len(copies), len(inbox))
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT count(*), count(done), min(last_status), max(attempts) "
                                    "FROM schedule_job WHERE uid = :uid"), {"uid": uid}).one()
    assert tuple(jobs) == (ATTENDEES, ATTENDEES, "2.0;Success", 1)


def _all_delivered(attendees, uid: str) -> bool:
    return all(copy_of(a, uid) is not None for a in attendees)


def test_twenty_attendees_get_one_copy_each_with_two_racing_processes(engine, database_url, racing_config):
    first = ServeProcess("--database-url", database_url, "--config", racing_config)
    try:
        second = ServeProcess("--database-url", database_url, "--config", racing_config)
        try:
            organizer = scheduling_user(engine, first.caldav_url, "fan")
            attendees = [scheduling_user(engine, second.caldav_url, "fan") for _ in range(ATTENDEES)]
            share_organisation(engine, [organizer, *attendees])
            for round_ in range(3):
                uid = f"fan-out-{organizer.name}-{round_}"
                put = organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, attendees))
                assert put.status_code == 201, put.text
                wait_until(lambda: _all_delivered(attendees, uid), timeout=60, what="every delivery")
                _exactly_once(engine, attendees, uid)
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_process_dying_after_the_commit_leaves_the_delivery_to_the_other(engine, database_url):
    survivor = ServeProcess("--database-url", database_url)
    try:
        doomed = ServeProcess("--database-url", database_url, env={EXIT_AFTER_COMMIT_ENV: "1"})
        organizer = scheduling_user(engine, doomed.caldav_url, "doom")
        attendees = [scheduling_user(engine, survivor.caldav_url, "doom") for _ in range(ATTENDEES)]
        share_organisation(engine, [organizer, *attendees])
        uid = f"doomed-{organizer.name}"
        with pytest.raises(requests.ConnectionError):
            organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, attendees))
        assert doomed.process.wait(30) == 17
        doomed.stop()
        # The organizer's write committed with its jobs; the survivor's worker delivers them.
        organizer.base_url = survivor.caldav_url
        assert "SCHEDULE-STATUS=1.2" in unfolded(copy_of(organizer, uid))
        wait_until(lambda: _all_delivered(attendees, uid), timeout=60, what="the worker's deliveries")
        _exactly_once(engine, attendees, uid)
    finally:
        survivor.stop()
