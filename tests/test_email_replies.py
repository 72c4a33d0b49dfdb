"""Answers by mail: iTIP REPLYs that mail clients send from the invitee's accept button, polled
from a real IMAP server on loopback (Debian's Dovecot, tests/mailserver.py) into the
organizer's copy, read back over CalDAV. A spoofed sender is refused, a malformed mail is
skipped without stopping the poll, the same REPLY twice changes nothing, and two server
processes polling one mailbox take each answer once. Polls are started explicitly
(``poll_now``) or by moving the injectable clock past the next due poll."""
from __future__ import annotations

import re
import secrets
import subprocess
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from radicale import config as radicale_config

from conftest import FROZEN_NOW, ServeProcess, free_port, planerix_command, start_caldav_server
from mailserver import Dovecot
from schedutil import colleagues, copy_of, invitation, scheduling_user, unfolded
from server.mail_replies import ledger
from server.mail_replies.poller import IGNORED, REFUSED, TAKEN, MailboxPoller
from server.mail_replies.settings import MailboxSettings
from storage_plugin import clock, directory
from waiting import wait_until

SEEN, FLAGGED = "\\Seen", "\\Flagged"


@pytest.fixture(scope="module")
def dovecot():
    server = Dovecot()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def caldav(engine, database_url):
    server = start_caldav_server(database_url, {"scheduling": {"worker_interval_seconds": "0.05",
                                                               "retry_after_seconds": "0"}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def poller(caldav, dovecot):
    """The poller of the in-process server, polled by the tests (not started as a thread)."""
    settings = MailboxSettings("127.0.0.1", dovecot.port, "none", dovecot.username, dovecot.password,
                               "INBOX", 3600)
    return MailboxPoller(caldav.application._storage, settings)


def _guest(prefix: str = "guest"):
    name = f"{prefix}-{secrets.token_hex(4)}"
    return SimpleNamespace(name=name, email=f"{name}@outside.test")


def reply_mail(uid: str, organizer, attendee_email: str, partstat: str, *, sender: str | None = None,
               recurrence_id: str = "", stamp: str = "20261202T100000Z", sequence: int = 0,
               calendar: str | None = None) -> bytes:
    """The mail Thunderbird sends for its Accept/Decline buttons: text, the iTIP REPLY as
    text/calendar; method=REPLY, and the same as an invite.ics attachment, to the ORGANIZER."""
    ics = calendar or (
        "BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\n"
        "METHOD:REPLY\r\nBEGIN:VEVENT\r\nCREATED:20261201T090000Z\r\nLAST-MODIFIED:20261202T095900Z\r\n"
        f"DTSTAMP:{stamp}\r\nUID:{uid}\r\nSUMMARY:Planning\r\n"
        + (f"RECURRENCE-ID:{recurrence_id}\r\n" if recurrence_id else "")
        + f"ORGANIZER;CN={organizer.name}:mailto:{organizer.email}\r\n"
        f"ATTENDEE;CN=Guest;PARTSTAT={partstat};ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:mailto:{attendee_email}\r\n"
        f"DTSTART:20270104T100000Z\r\nDTEND:20270104T110000Z\r\nSEQUENCE:{sequence}\r\n"
        f"X-MOZ-RECEIVED-SEQUENCE:{sequence}\r\nX-MOZ-RECEIVED-DTSTAMP:20261201T000000Z\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    mail = EmailMessage()
    mail["From"] = f"Guest <{sender or attendee_email}>"
    mail["To"] = f"{organizer.name} <{organizer.email}>"
    mail["Subject"] = f"{partstat.title()}: Planning"
    mail["Date"] = format_datetime(clock.now())
    mail["Message-ID"] = make_msgid(domain="outside.test")
    mail.set_content(f"Guest has {partstat.lower()} your event invitation.\n")
    mail.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    mail.add_attachment(ics.encode(), maintype="application", subtype="ics", filename="invite.ics")
    return mail.as_bytes()


def _attendee_line(text: str, email: str, recurrence_id: str | None = None) -> str:
    """The ATTENDEE line of ``email`` in the master (or the override ``recurrence_id``)."""
    for block in unfolded(text).split("BEGIN:VEVENT")[1:]:
        if (f"RECURRENCE-ID:{recurrence_id}" in block) if recurrence_id else ("RECURRENCE-ID" not in block):
            return next(line for line in block.splitlines() if line.startswith("ATTENDEE") and email in line)
    raise AssertionError(f"no component {recurrence_id or 'master'} in {text}")


def _replies(engine, uid: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM schedule_job WHERE uid = :uid AND method = 'REPLY'"),
                            {"uid": uid}).scalar_one()


def _inbox_size(engine, account: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM item i JOIN collection c ON c.id = i.collection_id "
                                    "WHERE c.path = :path"), {"path": f"{account}/{directory.INBOX}"}).scalar_one()


def _meeting(engine, base_url, guests, rrule: str = ""):
    organizer = scheduling_user(engine, base_url, "boss")
    uid = f"mailed-{secrets.token_hex(6)}"
    put = organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, guests, rrule=rrule))
    assert put.status_code == 201, put.text
    return organizer, uid


def test_an_accept_by_mail_updates_the_organizers_copy_once_and_a_reply_per_occurrence_too(
        engine, caldav, poller, dovecot):
    base_url = f"http://127.0.0.1:{caldav.port}"
    guest, other = _guest(), _guest()
    organizer, uid = _meeting(engine, base_url, [guest, other], rrule="FREQ=WEEKLY;COUNT=4")
    assert "PARTSTAT=NEEDS-ACTION" in _attendee_line(copy_of(organizer, uid), guest.email)

    accepted = reply_mail(uid, organizer, guest.email.upper(), "ACCEPTED")  # any case of the address
    first = dovecot.append(accepted)
    assert dovecot.flags(first) == set()
    report = poller.poll_now()
    assert report.outcomes[TAKEN] == 1 and report.outcomes[REFUSED] == 0
    text = copy_of(organizer, uid)  # over CalDAV
    line = _attendee_line(text, guest.email)
    assert "PARTSTAT=ACCEPTED" in line and "SCHEDULE-STATUS=2.0" in line
    assert "PARTSTAT=NEEDS-ACTION" in _attendee_line(text, other.email)
    assert dovecot.flags(first) == {SEEN}
    assert (_replies(engine, uid), _inbox_size(engine, organizer.name)) == (1, 1)

    # One occurrence declined (Thunderbird answering a single instance): an override appears.
    second = dovecot.append(reply_mail(uid, organizer, guest.email, "DECLINED", recurrence_id="20270111T100000Z",
                                       stamp="20261202T101000Z"))
    assert poller.poll_now().outcomes[TAKEN] == 1
    text = copy_of(organizer, uid)
    assert "PARTSTAT=DECLINED" in _attendee_line(text, guest.email, "20270111T100000Z")
    assert "PARTSTAT=ACCEPTED" in _attendee_line(text, guest.email)
    assert dovecot.flags(second) == {SEEN}

    # The same REPLY again (delivered twice): nothing changes, the mail is marked all the same.
    again = dovecot.append(accepted)
    report = poller.poll_now()
    assert (report.outcomes[TAKEN], report.outcomes[IGNORED]) == (0, 1)
    assert copy_of(organizer, uid) == text
    assert (_replies(engine, uid), _inbox_size(engine, organizer.name)) == (2, 2)
    assert dovecot.flags(again) == {SEEN}


def test_a_reply_not_from_its_attendee_or_from_someone_uninvited_changes_nothing(engine, caldav, poller, dovecot):
    base_url = f"http://127.0.0.1:{caldav.port}"
    guest, stranger = _guest(), _guest("stranger")
    organizer, uid = _meeting(engine, base_url, [guest])
    before = copy_of(organizer, uid)

    spoofed = dovecot.append(reply_mail(uid, organizer, guest.email, "DECLINED", sender="mallory@evil.test"))
    uninvited = dovecot.append(reply_mail(uid, organizer, stranger.email, "ACCEPTED"))
    report = poller.poll_now()
    assert (report.outcomes[TAKEN], report.outcomes[REFUSED], report.outcomes[IGNORED]) == (0, 1, 1)
    assert copy_of(organizer, uid) == before
    assert stranger.email not in unfolded(before)
    assert _replies(engine, uid) == 0
    assert dovecot.flags(spoofed) == {SEEN, FLAGGED}
    assert dovecot.flags(uninvited) == {SEEN}


def test_a_mail_answering_for_a_planerix_user_is_refused_whoever_it_claims_to_be_from(
        engine, caldav, poller, dovecot):
    """Bob's answers come through CalDAV only: a mail From bob@ answering for him is a forgery."""
    base_url = f"http://127.0.0.1:{caldav.port}"
    alice, bob = colleagues(engine, base_url, "alice", "bob")
    guest = _guest()
    uid = f"mailed-{secrets.token_hex(6)}"
    assert alice.put(f"personal/{uid}.ics", invitation(uid, alice, [bob, guest])).status_code == 201
    before = copy_of(alice, uid)
    assert "PARTSTAT=NEEDS-ACTION" in _attendee_line(before, bob.email)

    forged = dovecot.append(reply_mail(uid, alice, bob.email, "DECLINED"))
    report = poller.poll_now()
    assert (report.outcomes[TAKEN], report.outcomes[REFUSED]) == (0, 1)
    assert copy_of(alice, uid) == before
    assert _replies(engine, uid) == 0
    assert dovecot.flags(forged) == {SEEN, FLAGGED}


def test_an_answer_to_an_older_version_of_the_meeting_is_refused_and_the_current_one_taken(
        engine, caldav, poller, dovecot):
    """RFC 5546 2.1.5: the organizer moved the meeting (SEQUENCE 1); the guest's Accept pressed in
    the first invitation (SEQUENCE 0) must not accept the new time."""
    base_url = f"http://127.0.0.1:{caldav.port}"
    guest = _guest()
    organizer, uid = _meeting(engine, base_url, [guest])
    moved = organizer.put(f"personal/{uid}.ics", invitation(uid, organizer, [guest], start="20270104T140000Z",
                                                            end="20270104T150000Z", sequence=1))
    assert moved.status_code == 204, moved.text
    before = copy_of(organizer, uid)

    outdated = dovecot.append(reply_mail(uid, organizer, guest.email, "ACCEPTED", sequence=0))
    report = poller.poll_now()
    assert (report.outcomes[TAKEN], report.outcomes[REFUSED]) == (0, 1)
    assert copy_of(organizer, uid) == before
    assert "PARTSTAT=NEEDS-ACTION" in _attendee_line(before, guest.email)
    assert dovecot.flags(outdated) == {SEEN, FLAGGED}

    current = dovecot.append(reply_mail(uid, organizer, guest.email, "ACCEPTED", sequence=1,
                                        stamp="20261202T101000Z"))
    assert poller.poll_now().outcomes[TAKEN] == 1
    assert "PARTSTAT=ACCEPTED" in _attendee_line(copy_of(organizer, uid), guest.email)
    assert dovecot.flags(current) == {SEEN}


def test_a_malformed_mail_is_flagged_and_the_next_one_is_taken(engine, caldav, poller, dovecot):
    base_url = f"http://127.0.0.1:{caldav.port}"
    guest = _guest()
    organizer, uid = _meeting(engine, base_url, [guest])
    broken = dovecot.append(reply_mail(uid, organizer, guest.email, "ACCEPTED",
                                       calendar="BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:" + uid
                                                + "\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:" + guest.email
                                                + "\r\nATTENDEE:mailto:someone@else.test\r\nEND:VCALENDAR\r\n"))
    good = dovecot.append(reply_mail(uid, organizer, guest.email, "TENTATIVE"))
    report = poller.poll_now()
    assert (report.outcomes[TAKEN], report.outcomes[REFUSED]) == (1, 1)
    assert dovecot.flags(broken) == {SEEN, FLAGGED}
    assert dovecot.flags(good) == {SEEN}
    assert "PARTSTAT=TENTATIVE" in _attendee_line(copy_of(organizer, uid), guest.email)


def test_polls_are_due_by_the_clock_and_one_process_holds_the_mailbox(engine, caldav, poller, dovecot):
    mailbox = f"test-{secrets.token_hex(4)}@nowhere:143/INBOX"
    start = FROZEN_NOW
    assert ledger.claim(engine, mailbox, "first", start, 60)
    assert not ledger.claim(engine, mailbox, "second", start, 60)  # leased
    assert not ledger.claim(engine, mailbox, "second", start, 60, now_anyway=True)
    ledger.release(engine, mailbox, "first", start, 60, None)
    assert not ledger.claim(engine, mailbox, "second", start + timedelta(seconds=30), 60)  # not due yet
    # ... unless the interval is now shorter than the wait left (set with the old, longer one)
    assert not ledger.claim(engine, mailbox, "second", start + timedelta(seconds=30), 40)
    assert ledger.claim(engine, mailbox, "second", start + timedelta(seconds=30), 20)
    assert not ledger.renew(engine, mailbox, "first", start + timedelta(seconds=31))
    # A process that died holding the lease: the mailbox is polled again once it runs out.
    later = start + timedelta(seconds=31 + ledger.LEASE_SECONDS)
    assert ledger.claim(engine, mailbox, "first", later, 60)

    # The poller's own loop: due at once, then not before poll_seconds have passed.
    guest = _guest()
    organizer, uid = _meeting(engine, f"http://127.0.0.1:{caldav.port}", [guest])
    with clock.frozen(clock.now() + timedelta(days=1)) as now:
        poller.poll_now()  # whatever the other tests left: the next poll is due an interval from now
        dovecot.append(reply_mail(uid, organizer, guest.email, "ACCEPTED"))
    with clock.frozen(now + timedelta(seconds=poller.settings.poll_seconds - 1)):
        assert poller.run_due() == 0
    assert "PARTSTAT=NEEDS-ACTION" in _attendee_line(copy_of(organizer, uid), guest.email)
    with clock.frozen(now + timedelta(seconds=poller.settings.poll_seconds + 1)):
        assert poller.run_due() == 1
    assert "PARTSTAT=ACCEPTED" in _attendee_line(copy_of(organizer, uid), guest.email)


def test_a_mail_server_that_is_away_is_tried_again_at_the_next_poll(engine, caldav, dovecot):
    settings = MailboxSettings("127.0.0.1", free_port(), "none", dovecot.username, dovecot.password, "INBOX", 30)
    away = MailboxPoller(caldav.application._storage, settings)
    with clock.frozen(FROZEN_NOW + timedelta(days=400)) as now:
        report = away.poll_now()
    assert report is not None and sum(report.outcomes.values()) == 0
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM mailbox_poll WHERE mailbox = :m"), {"m": settings.name}).one()
    assert "ConnectionRefusedError" in row.last_error and row.lease_owner is None
    assert row.next_poll == now + timedelta(seconds=30)


def test_mailbox_settings_come_from_email_options_or_the_environment_and_are_checked(monkeypatch):
    configuration = radicale_config.load()
    assert not MailboxSettings.from_configuration(configuration).configured  # no host: nothing polled
    monkeypatch.setenv("PLANERIX_IMAP_HOST", "imap.example.org")
    monkeypatch.setenv("PLANERIX_IMAP_USERNAME", "replies@example.org")
    found = MailboxSettings.from_configuration(configuration)
    assert (found.configured, found.security, found.imap_port, found.folder, found.poll_seconds) == (
        True, "tls", 993, "INBOX", 60.0)
    configuration.update({"email": {"imap_security": "starttls", "imap_folder": "Answers",
                                    "imap_poll_seconds": "15"}}, "test")
    found = MailboxSettings.from_configuration(configuration)
    assert (found.imap_port, found.folder, found.poll_seconds) == (143, "Answers", 15.0)
    assert found.name == "replies@example.org@imap.example.org:143/Answers"
    for options, reason in (({"imap_security": "ssl"}, "imap_security is 'ssl': use none, starttls or tls"),
                            ({"imap_poll_seconds": "-1"}, "imap_poll_seconds is '-1"),
                            ({"imap_port": "70000"}, "imap_port is '70000'")):
        broken = radicale_config.load()
        broken.update({"email": {"imap_host": "imap.example.org", **options}}, "test")
        with pytest.raises(ValueError, match=re.escape(reason)):
            MailboxSettings.from_configuration(broken)
    monkeypatch.delenv("PLANERIX_IMAP_USERNAME")
    with pytest.raises(ValueError, match="imap_username is empty"):
        MailboxSettings.from_configuration(configuration)


def test_a_wrong_mailbox_setting_stops_serve_with_its_reason(tmp_path):
    config = tmp_path / "bad.ini"
    config.write_text("[email]\nimap_host = imap.example.org\nimap_security = ssl\nimap_username = replies\n")
    done = subprocess.run(planerix_command("serve", "--config", str(config)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "planerix: [email] imap_security is 'ssl': use none, starttls or tls" in done.stderr


@pytest.mark.timeout(300)
def test_two_processes_polling_one_mailbox_take_each_answer_once(engine, database_url, dovecot, tmp_path):
    config = tmp_path / "replies.ini"
    config.write_text("[email]\n" + "".join(f"{k} = {v}\n" for k, v in dovecot.email_config(0.05).items())
                      + "[scheduling]\nworker_interval_seconds = 0.05\nretry_after_seconds = 0\n")
    first = ServeProcess("--database-url", database_url, "--config", str(config))
    try:
        second = ServeProcess("--database-url", database_url, "--config", str(config))
        try:
            guests = [_guest("crowd") for _ in range(8)]
            organizer, uid = _meeting(engine, first.caldav_url, guests)
            mails = [dovecot.append(reply_mail(uid, organizer, g.email, "ACCEPTED")) for g in guests]
            # Each answer twice: a mail delivered again must not be applied again.
            mails += [dovecot.append(reply_mail(uid, organizer, g.email, "ACCEPTED")) for g in guests[:4]]

            def all_seen() -> bool:
                return all(SEEN in dovecot.flags(m) for m in mails)
            wait_until(all_seen, timeout=120, what="every mail polled")
            wait_until(lambda: all("PARTSTAT=ACCEPTED" in _attendee_line(copy_of(organizer, uid), g.email)
                                   for g in guests), timeout=60, what="every answer applied")
            assert _replies(engine, uid) == len(guests)
            assert _inbox_size(engine, organizer.name) == len(guests)
            with engine.connect() as conn:
                taken = conn.execute(sa.text("SELECT attendee, schedule_job FROM mail_reply WHERE uid = :uid"),
                                     {"uid": uid}).all()
            assert sorted(a for a, _ in taken) == sorted(f"mailto:{g.email}" for g in guests)
            assert all(job is not None for _, job in taken)
            with engine.connect() as conn:
                polled = conn.execute(sa.text("SELECT last_poll, last_error FROM mailbox_poll WHERE mailbox = :m"),
                                      {"m": f"{dovecot.username}@127.0.0.1:{dovecot.port}/INBOX"}).one()
            assert polled.last_poll is not None and polled.last_error is None
        finally:
            second.stop()
    finally:
        first.stop()
