"""The pure parts of email invitations: RSVP tokens, their expiry with the event, [email] settings."""
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
