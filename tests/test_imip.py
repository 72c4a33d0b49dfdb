"""The pure parts of email invitations: RSVP tokens, their expiry with the event, [email] settings,
and reading the REPLYs mail clients send back."""
from datetime import datetime, timedelta, timezone

import pytest
from radicale import config as radicale_config

from scheduling import imip, itip, rsvp_token
from server import settings  # noqa: F401  (registers the [email] section)
from storage_plugin.email_outbox import EmailSettings

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _event(extra: str, start="20270104T100000Z", end="20270104T110000Z") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u\r\n"
            f"DTSTAMP:20261201T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n{extra}"
            "ORGANIZER:mailto:a@example.org\r\nATTENDEE:mailto:g@outside.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_token_names_its_invitation_and_nothing_else_verifies():
    invitation = rsvp_token.Invitation("alice", "u", "mailto:g@outside.test", NOW + timedelta(days=1))
    token = rsvp_token.sign("secret", invitation)
    assert rsvp_token.verify("secret", token, NOW) == invitation
    with pytest.raises(rsvp_token.InvalidToken):
        rsvp_token.verify("another secret", token, NOW)
    payload, signature = token.split(".")
    tampered = rsvp_token.sign("secret", rsvp_token.Invitation("mallory", "u", "mailto:g@outside.test",
                                                                invitation.expires)).split(".")[0]
    for bad in (f"{tampered}.{signature}", payload, f"{payload}.", "", "a.b", token + "x" * 3000):
        with pytest.raises(rsvp_token.InvalidToken):
            rsvp_token.verify("secret", bad, NOW)
    with pytest.raises(rsvp_token.ExpiredToken):
        rsvp_token.verify("secret", token, NOW + timedelta(days=1))


@pytest.mark.parametrize("extra, expires", [
    ("", datetime(2027, 1, 4, 11, 0, tzinfo=timezone.utc)),
    ("RRULE:FREQ=WEEKLY;COUNT=3\r\n", datetime(2027, 1, 18, 11, 0, tzinfo=timezone.utc)),
    ("RRULE:FREQ=DAILY;UNTIL=20270110T100000Z\r\n", datetime(2027, 1, 10, 11, 0, tzinfo=timezone.utc)),
    ("RDATE:20270301T100000Z\r\n", datetime(2027, 3, 1, 11, 0, tzinfo=timezone.utc)),
    ("RRULE:FREQ=WEEKLY\r\n", NOW + timedelta(days=imip.UNBOUNDED_RSVP_DAYS)),
])
def test_rsvp_links_expire_after_the_last_occurrence(extra, expires):
    assert imip.rsvp_expiry(itip.parse(_event(extra)), NOW) == expires


def test_an_all_day_event_expires_at_the_end_of_its_day():
    calendar = itip.parse(_event("", start="20270104", end="20270105").replace("DTSTART:", "DTSTART;VALUE=DATE:")
                          .replace("DTEND:", "DTEND;VALUE=DATE:"))
    assert imip.rsvp_expiry(calendar, NOW) == datetime(2027, 1, 5, tzinfo=timezone.utc)


def test_email_settings_come_from_the_configuration_or_the_environment(monkeypatch):
    configuration = radicale_config.load()
    assert not EmailSettings.from_configuration(configuration).configured
    monkeypatch.setenv("PLANERIX_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("PLANERIX_EMAIL_SENDER", "planerix@example.org")
    monkeypatch.setenv("PLANERIX_SMTP_SECURITY", "tls")
    found = EmailSettings.from_configuration(configuration)
    assert found.configured and found.smtp_port == 465 and found.security == "tls"
    configuration.update({"email": {"host": "mail.internal", "port": "2525", "security": "none"}}, "test")
    found = EmailSettings.from_configuration(configuration)
    assert (found.host, found.smtp_port, found.security, found.sender) == (
        "mail.internal", 2525, "none", "planerix@example.org")
    configuration.update({"email": {"security": "ssl"}}, "test")
    with pytest.raises(ValueError, match="none, starttls or tls"):
        EmailSettings.from_configuration(configuration)


# -- REPLYs read from mail (the accept buttons of mail clients) ------------------------------
OUTLOOK_REPLY = (
    "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED;CN=Gina Guest:mailto:Gina@Outside.test\r\n"
    "COMMENT;LANGUAGE=en-US:See you there\\n\r\nSUMMARY;LANGUAGE=en-US:Accepted: Planning\r\n"
    "DTSTART;TZID=W. Europe Standard Time:20270104T110000\r\nDTEND;TZID=W. Europe Standard Time:20270104T120000\r\n"
    "UID:u\r\nRECURRENCE-ID;TZID=W. Europe Standard Time:20270111T110000\r\n"
    "ORGANIZER:mailto:boss@example.org\r\nSEQUENCE:0\r\nDTSTAMP:20261202T101500Z\r\n"
    "X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\nX-MICROSOFT-CDO-OWNERAPPTID:-1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _mail(ics: str, sender: str = "Gina Guest <gina@outside.test>", attach: bool = True):
    """An Outlook-shaped answer: text and the REPLY (base64) as alternatives, plus an attachment."""
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "Boss <boss@example.org>", "Accepted: Planning"
    mail.set_content("See you there\n")
    mail.add_alternative(ics.encode(), maintype="text", subtype="calendar", cte="base64",
                         params={"method": "REPLY", "charset": "utf-8"})
    if attach:
        mail.add_attachment(ics.encode(), maintype="text", subtype="calendar", filename="invite.ics",
                            params={"method": "REPLY"})
    return message_from_bytes(mail.as_bytes(), policy=policy.default)


def test_a_reply_mail_is_read_once_as_one_attendees_answers_without_the_rest():
    [reply] = imip.replies_in(_mail(OUTLOOK_REPLY))  # the attachment repeats it: one answer
    assert (reply.uid, reply.attendee, reply.organizer) == ("u", "mailto:gina@outside.test", "mailto:boss@example.org")
    assert reply.recipients == ("mailto:boss@example.org",)
    [answered] = itip.scheduled(reply.calendar)
    assert itip.partstat(answered["ATTENDEE"]) == "ACCEPTED"
    assert answered.get("RECURRENCE-ID") is not None and answered.get("COMMENT") is None
    assert "X-MICROSOFT" not in reply.text and "VTIMEZONE" in reply.text  # the zone its RECURRENCE-ID needs
    assert reply.digest == imip.replies_in(_mail(OUTLOOK_REPLY, attach=False))[0].digest


def test_an_answer_for_someone_else_or_an_unreadable_one_is_refused():
    with pytest.raises(imip.ForeignReply, match="answers for gina@outside.test but the mail is from mallory@evil"):
        imip.replies_in(_mail(OUTLOOK_REPLY, sender="Gina Guest <mallory@evil.test>"))
    # Headers parsers read differently (Python reads the first as gina@, a mail client may show mallory@).
    for sender in ("gina@outside.test <mallory@evil.test>", '"gina@outside.test" <mallory@evil.test>',
                   "gina@outside.test, mallory@evil.test"):
        with pytest.raises(imip.MalformedReply, match="does not name exactly one address"):
            imip.replies_in(_mail(OUTLOOK_REPLY, sender=sender))
    two = OUTLOOK_REPLY.replace("ATTENDEE;", "ATTENDEE:mailto:other@outside.test\r\nATTENDEE;", 1)
    with pytest.raises(imip.MalformedReply, match="exactly one ATTENDEE"):
        imip.replies_in(_mail(two))
    with pytest.raises(imip.MalformedReply, match="PARTSTAT DELEGATED"):
        imip.replies_in(_mail(OUTLOOK_REPLY.replace("PARTSTAT=ACCEPTED", "PARTSTAT=DELEGATED")))
    with pytest.raises(imip.MalformedReply, match="METHOD is 'REQUEST'"):
        imip.replies_in(_mail(OUTLOOK_REPLY.replace("METHOD:REPLY", "METHOD:REQUEST")))
    with pytest.raises(imip.MalformedReply, match="cannot be read"):
        imip.replies_in(_mail("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:u\r\n"))
    with pytest.raises(imip.MalformedReply, match="one UID"):
        imip.replies_in(_mail("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n"))


def test_a_mail_without_a_reply_is_no_answer():
    from email.message import EmailMessage

    plain = EmailMessage()
    plain["From"] = "someone@outside.test"
    plain.set_content("Thanks for the invite, I'll come.")
    assert imip.replies_in(plain) == []
    # An invitation forwarded back: a REQUEST, not an answer.
    request = _mail(OUTLOOK_REPLY.replace("METHOD:REPLY", "METHOD:REQUEST"), attach=False)
    for part in request.walk():
        if part.get_content_type() == "text/calendar":
            part.set_param("method", "REQUEST")
    assert imip.replies_in(request) == []
