"""Invitations by email (iMIP) to attendees outside Planerix, through a real SMTP server on
loopback (aiosmtpd): the mail as mail clients read it, the RSVP pages answering into the
organizer's copy, CANCEL on delete, retries after a refusal (driven by the injectable clock),
one mail per attendee with two server processes, and the status when no SMTP server is set."""
from __future__ import annotations

import email
import email.policy
import re
import secrets
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from icalendar import Calendar

from conftest import FROZEN_NOW, ApiServer, ServeProcess, free_port, start_caldav_server
from schedutil import copy_of, invitation, scheduling_user, unfolded
from storage_plugin import clock
from waiting import wait_until

SENDER = "planerix@example.org"


class Mailbox:
    """An SMTP server's handler: keeps what it accepts; refuses the next ``refuse`` mails with 451."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse = 0
        self.refused = 0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody-"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.refuse:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 Mailbox busy, try again later"
            self.received.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"

    def to(self, address: str, method: str | None = None) -> list[email.message.EmailMessage]:
        found = [m for rcpt, m in self.received if address in rcpt]
        return [m for m in found if method is None or f"method={method}" in _calendar_part(m)[0]]


def _calendar_part(mail) -> tuple[str, Calendar]:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    return part["Content-Type"].replace('"', ""), Calendar.from_ical(part.get_content())


@pytest.fixture(scope="module")
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SimpleNamespace(mailbox=mailbox, port=controller.port)
    controller.stop()


def _email_config(smtp, rsvp_url: str = "") -> dict:
    return {"email": {"host": "127.0.0.1", "port": str(smtp.port), "security": "none", "sender": SENDER,
                      "rsvp_url": rsvp_url},
            "scheduling": {"worker_interval_seconds": "0.05", "retry_after_seconds": "0"}}


@pytest.fixture(scope="module")
def sidecar(engine, database_url):
    server = ApiServer(database_url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mailing_server(engine, database_url, smtp, sidecar):
    server = start_caldav_server(database_url, _email_config(smtp, sidecar.url + "/rsvp"))
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def _guest(prefix: str = "guest"):
    name = f"{prefix}-{secrets.token_hex(4)}"
    return SimpleNamespace(name=name, email=f"{name}@outside.test")


def _jobs(engine, uid: str) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM email_job WHERE uid = :uid ORDER BY id"), {"uid": uid}))


def _status_of(organizer, uid: str, guest) -> str | None:
    text = unfolded(copy_of(organizer, uid) or "")
    line = next((line for line in text.splitlines() if guest.email in line and line.startswith("ATTENDEE")), "")
    found = re.search(r"SCHEDULE-STATUS=([0-9.]+)", line)
    return found.group(1) if found else None


def _partstat_of(organizer, uid: str, guest) -> str | None:
    text = unfolded(copy_of(organizer, uid) or "")
    line = next((line for line in text.splitlines() if guest.email in line and line.startswith("ATTENDEE")), "")
    found = re.search(r"PARTSTAT=([A-Z-]+)", line)
    return found.group(1) if found else None


def _schedule_tag(engine, uid: str, account: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT i.schedule_tag FROM item i JOIN collection c ON c.id = i.collection_id "
                                    "WHERE i.uid = :uid AND c.parent_path = :account AND c.kind = 'normal'"),
                            {"uid": uid, "account": account}).scalar_one()


def _ahead(hours: int = 0) -> str:
    """A time a month after the clock's now: the link's event is not over, whatever day the suite
    runs on (it also runs with the clock moved months ahead)."""
    return (clock.now() + timedelta(days=30, hours=hours)).strftime("%Y%m%dT%H0000Z")


def _links(mail) -> dict[str, str]:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return dict(re.findall(r"^\s+(Accept|Maybe|Decline): (\S+)\s*$", text, re.M))


def test_an_external_attendee_gets_an_itip_request_mail_and_answers_through_the_rsvp_page(
        engine, mailing_server, smtp, sidecar):
    organizer = scheduling_user(engine, mailing_server, "boss")
    guest, other = _guest(), _guest()
    uid = f"mail-{organizer.name}"
    put = organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [guest, other], summary="Budget review",
                                                          start=_ahead(), end=_ahead(hours=1)))
    assert put.status_code == 201, put.text
    wait_until(lambda: smtp.mailbox.to(guest.email), timeout=20, what="the invitation email")
    [mail] = smtp.mailbox.to(guest.email)

    # The mail as mail clients read it: text, then the iTIP part, plus the .ics attachment.
    assert mail.get_content_type() == "multipart/mixed"
    alternative = next(p for p in mail.iter_parts() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/calendar"]
    assert [a.get_filename() for a in mail.iter_attachments()] == ["invite.ics"]
    # From: the configured sender, named after the organizer's CN (the client wrote their login).
    assert mail["From"].addresses[0].addr_spec == SENDER and organizer.name in str(mail["From"])
    assert mail["Reply-To"].addresses[0].addr_spec == organizer.email
    assert "Budget review" in mail["Subject"]
    content_type, calendar = _calendar_part(mail)
    assert "method=REQUEST" in content_type
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = [c for c in calendar.walk("VEVENT")]
    assert str(event["UID"]) == uid
    assert str(event["ORGANIZER"]).lower() == f"mailto:{organizer.email}"
    attendees = {str(a).lower(): a.params for a in event.get("ATTENDEE")}
    assert attendees[f"mailto:{guest.email}"]["PARTSTAT"] == "NEEDS-ACTION"
    assert not any("SCHEDULE-STATUS" in p for p in attendees.values())

    # Sent: 1.1 on the organizer's copy and in the API.
    wait_until(lambda: _status_of(organizer, uid, guest) == "1.1", timeout=20, what="SCHEDULE-STATUS 1.1")
    api = requests.get(f"{sidecar.url}/api/email-invitations", params={"uid": uid},
                       auth=(organizer.name, organizer.password))
    assert api.status_code == 200, api.text
    sent = {e["recipient"]: e for e in api.json()["emails"]}
    assert sent[f"mailto:{guest.email}"]["schedule_status"].startswith("1.1")
    assert sent[f"mailto:{guest.email}"]["sent"] is not None and sent[f"mailto:{guest.email}"]["method"] == "REQUEST"

    # The link shows a page; only the form's POST answers (link scanners only GET).
    links = _links(mail)
    assert set(links) == {"Accept", "Maybe", "Decline"}
    tag_before = _schedule_tag(engine, uid, organizer.name)
    page = requests.get(links["Accept"])
    assert page.status_code == 200 and "Budget review" in page.text and 'method="post"' in page.text
    assert _partstat_of(organizer, uid, guest) == "NEEDS-ACTION"
    answered = requests.post(links["Accept"].split("?")[0], data={"answer": "accepted"})
    assert answered.status_code == 200 and "accepted" in answered.text
    wait_until(lambda: _partstat_of(organizer, uid, guest) == "ACCEPTED", timeout=20, what="the answer applied")
    assert _status_of(organizer, uid, guest) == "2.0"
    assert _partstat_of(organizer, uid, other) == "NEEDS-ACTION"
    assert _schedule_tag(engine, uid, organizer.name) == tag_before  # a server-side merge of an answer

    # Changing one's mind works with the same link; someone else's token does not open this event.
    assert requests.post(links["Decline"].split("?")[0], data={"answer": "declined"}).status_code == 200
    wait_until(lambda: _partstat_of(organizer, uid, guest) == "DECLINED", timeout=20, what="the changed answer")
    token = links["Accept"].split("/rsvp/")[1].split("?")[0]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = requests.post(f"{sidecar.url}/rsvp/{forged}", data={"answer": "accepted"})
    assert refused.status_code == 404 and "not valid" in refused.text
    assert requests.post(links["Accept"].split("?")[0], data={"answer": "maybe-later"}).status_code == 422


def test_rsvp_links_expire_with_the_event(engine, mailing_server, smtp):
    organizer = scheduling_user(engine, mailing_server, "boss")
    guest = _guest()
    uid = f"expiring-{organizer.name}"
    assert organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [guest])).status_code == 201
    wait_until(lambda: smtp.mailbox.to(guest.email), timeout=20, what="the invitation email")
    accept = _links(smtp.mailbox.to(guest.email)[0])["Accept"].split("?")[0]
    # The event ends 2027-01-04 11:00 UTC: a minute before, answers are taken; after, no longer.
    with clock.frozen(FROZEN_NOW.replace(year=2027, month=1, day=4, hour=10, minute=59)):
        assert requests.get(accept).status_code == 200
    with clock.frozen(FROZEN_NOW.replace(year=2027, month=1, day=4, hour=11, minute=0)):
        gone = requests.post(accept, data={"answer": "accepted"})
    assert gone.status_code == 410 and "over" in gone.text
    assert _partstat_of(organizer, uid, guest) == "NEEDS-ACTION"


def test_deleting_the_event_mails_a_cancel_and_the_link_stops_answering(engine, mailing_server, smtp):
    organizer = scheduling_user(engine, mailing_server, "boss")
    guest = _guest()
    uid = f"cancelled-{organizer.name}"
    meeting = invitation(uid, organizer, [guest], start=_ahead(), end=_ahead(hours=1))
    assert organizer.put(f"personal/{uid}.ics", meeting).status_code == 201
    wait_until(lambda: smtp.mailbox.to(guest.email, "REQUEST"), timeout=20, what="the invitation")
    wait_until(lambda: _status_of(organizer, uid, guest) == "1.1", timeout=20, what="the sent status")
    accept = _links(smtp.mailbox.to(guest.email)[0])["Accept"].split("?")[0]
    assert organizer.request("DELETE", f"personal/{uid}.ics").status_code in (200, 204)
    wait_until(lambda: smtp.mailbox.to(guest.email, "CANCEL"), timeout=20, what="the cancellation")
    [cancel] = smtp.mailbox.to(guest.email, "CANCEL")
    _, calendar = _calendar_part(cancel)
    [event] = list(calendar.walk("VEVENT"))
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and str(event["UID"]) == uid
    assert cancel["Subject"].startswith("Cancelled:") and not _links(cancel)
    gone = requests.get(accept)
    assert gone.status_code == 410 and "deleted" in gone.text


def test_a_refused_mail_is_retried_after_the_backoff(engine, mailing_server, smtp):
    organizer = scheduling_user(engine, mailing_server, "boss")
    guest = _guest()
    uid = f"retried-{organizer.name}"
    smtp.mailbox.refuse, refused_before = 1, smtp.mailbox.refused
    with clock.frozen(FROZEN_NOW):
        assert organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [guest])).status_code == 201
        wait_until(lambda: smtp.mailbox.refused == refused_before + 1, timeout=20, what="the refusal")
        wait_until(lambda: _status_of(organizer, uid, guest) == "5.1", timeout=20, what="the failure status")
        [job] = _jobs(engine, uid)
        assert job.attempts == 1 and job.done is None and "451" in job.last_error
        assert job.next_run == FROZEN_NOW + timedelta(seconds=30)
        assert not smtp.mailbox.to(guest.email)  # not due yet: nothing sent while the clock stands
    with clock.frozen(FROZEN_NOW + timedelta(seconds=31)):
        wait_until(lambda: smtp.mailbox.to(guest.email), timeout=20, what="the retried mail")
        wait_until(lambda: _status_of(organizer, uid, guest) == "1.1", timeout=20, what="the sent status")
    [job] = _jobs(engine, uid)
    assert job.attempts == 2 and job.sent is not None and job.last_error is None
    assert len(smtp.mailbox.to(guest.email)) == 1


def test_an_address_the_mail_server_refuses_is_not_retried(engine, mailing_server, smtp, sidecar):
    organizer = scheduling_user(engine, mailing_server, "boss")
    unknown, known = _guest("nobody"), _guest()
    uid = f"refused-{organizer.name}"
    assert organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [unknown, known])).status_code == 201
    wait_until(lambda: _status_of(organizer, uid, unknown) == "5.3", timeout=20, what="the refusal status")
    wait_until(lambda: _status_of(organizer, uid, known) == "1.1", timeout=20, what="the other one sent")
    refused = next(j for j in _jobs(engine, uid) if j.recipient == f"mailto:{unknown.email}")
    assert refused.done is not None and refused.sent is None and refused.attempts == 1 and "550" in refused.last_error
    api = requests.get(f"{sidecar.url}/api/email-invitations", params={"uid": uid},
                       auth=(organizer.name, organizer.password)).json()["emails"]
    shown = next(e for e in api if e["recipient"] == f"mailto:{unknown.email}")
    assert shown["schedule_status"].startswith("5.3") and shown["next_attempt"] is None and "550" in shown["error"]
    # Nobody else sees an organizer's mails.
    stranger = scheduling_user(engine, mailing_server, "stranger")
    assert requests.get(f"{sidecar.url}/api/email-invitations", params={"uid": uid},
                        auth=(stranger.name, stranger.password)).json()["emails"] == []
    assert requests.get(f"{sidecar.url}/api/email-invitations").status_code == 401


def test_without_smtp_external_attendees_get_schedule_status_3_7(engine, base_url):
    organizer = scheduling_user(engine, base_url, "boss")
    guest = _guest()
    uid = f"unmailed-{organizer.name}"
    assert organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [guest])).status_code == 201
    assert _status_of(organizer, uid, guest) == "3.7"
    assert _jobs(engine, uid) == []


@pytest.mark.timeout(300)
def test_two_processes_send_each_mail_once(engine, database_url, smtp, tmp_path):
    config = tmp_path / "email.ini"
    config.write_text("[email]\nhost = 127.0.0.1\nport = %d\nsecurity = none\nsender = %s\n"
                      "[scheduling]\nworker_interval_seconds = 0.02\nretry_after_seconds = 0\n" % (smtp.port, SENDER))
    first = ServeProcess("--database-url", database_url, "--config", str(config))
    try:
        second = ServeProcess("--database-url", database_url, "--config", str(config))
        try:
            guests = [_guest("crowd") for _ in range(15)]
            organizers = [scheduling_user(engine, server.caldav_url, "host") for server in (first, second)]
            uids = []
            for round_ in range(2):
                for organizer in organizers:
                    uid = f"crowd-{organizer.name}-{round_}"
                    uids.append(uid)
                    assert organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, guests)).status_code == 201

            def all_sent() -> bool:
                return all(j.done is not None for uid in uids for j in _jobs(engine, uid))
            wait_until(all_sent, timeout=120, what="every mail sent")
            for guest in guests:
                subjects = [m["Subject"] for m in smtp.mailbox.to(guest.email)]
                per_event = [_calendar_part(m)[1] for m in smtp.mailbox.to(guest.email)]
                assert sorted(str(c.walk("VEVENT")[0]["UID"]) for c in per_event) == sorted(uids), subjects
            jobs = [j for uid in uids for j in _jobs(engine, uid)]
            assert len(jobs) == len(uids) * len(guests)
            assert {(j.attempts, j.last_status) for j in jobs} == {(1, "1.1;Sent by email")}
        finally:
            second.stop()
    finally:
        first.stop()
