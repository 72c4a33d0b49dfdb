"""Sending the email outbox (storage_plugin/email_outbox.py) through the configured SMTP server.

Every server process runs one ``EmailWorker`` thread; they share the rows through the outbox's
claim (FOR UPDATE SKIP LOCKED with a lease). A mail server's 4xx or a network failure is retried
with backoff; a 5xx gives up at once. Each outcome goes onto the organizer's copy as
SCHEDULE-STATUS, and into the outbox row (the API's /api/email-invitations).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Optional

from scheduling import imip, itip, rsvp_token
from scheduling.addresses import normalise_address
from storage_plugin import clock, email_outbox, scheduling

logger = logging.getLogger("planerix.email")

SMTP_TIMEOUT_SECONDS = 30


class PermanentFailure(Exception):
    """The mail server refused for good (5xx): retrying would not help."""


class SmtpSession:
    """One SMTP connection for a batch of mails, opened at the first mail and again after a
    failure (a TLS handshake per mail would dominate the time a batch takes)."""

    def __init__(self, settings: email_outbox.EmailSettings) -> None:
        self.settings = settings
        self._smtp: Optional[smtplib.SMTP] = None

    def _open(self) -> smtplib.SMTP:
        settings, context = self.settings, ssl.create_default_context()
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, settings.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, mail: EmailMessage) -> None:
        """Raises PermanentFailure for 5xx answers, OSError or SMTPException otherwise."""
        try:
            if self._smtp is None:
                self._smtp = self._open()
            self._smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            if all(code >= 500 for code, _ in e.recipients.values()):
                raise PermanentFailure(f"the recipient's address was refused: {e.recipients}") from None
            raise
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500:
                raise PermanentFailure(f"the mail server refused: {e.smtp_code} {e.smtp_error!r}") from None
            raise
        except (OSError, smtplib.SMTPServerDisconnected):
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> "SmtpSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _links(settings: email_outbox.EmailSettings, secret: str, job, message, now) -> dict[str, str]:
    if job.method != "REQUEST" or not settings.rsvp_url:
        return {}
    token = rsvp_token.sign(secret, rsvp_token.Invitation(job.organizer_account, job.uid, job.recipient,
                                                         imip.rsvp_expiry(message, now)))
    return {answer: f"{settings.rsvp_url}/{token}?answer={answer.lower()}" for answer in imip.ANSWERS}


def compose(settings: email_outbox.EmailSettings, secret: str, job, now) -> EmailMessage:
    """The mail of one outbox row."""
    message = itip.parse(job.itip)
    organizer = itip.organizer(message)
    organizer_email = (normalise_address(organizer) or job.organizer)[len("mailto:"):]
    name = str(organizer.params.get("CN", "")) if organizer is not None else ""
    sender = imip.Sender(settings.sender, organizer_email, name or organizer_email)
    return imip.build(sender, job.recipient, message, _links(settings, secret, job, message, now), now)


class EmailWorker(scheduling.Worker):
    """Claims due outbox rows and sends them, in a thread of each server process (the
    scheduling worker's loop, with this ``run_due``)."""
    thread_name = "planerix-email"

    def __init__(self, storage, interval: float = 2.0, batch: int = 20) -> None:
        super().__init__(storage, interval, batch)

    def run_due(self) -> int:
        """Send what is due once; returns how many rows were claimed."""
        settings = email_outbox.settings_of(self.storage)
        if not settings.configured:  # another server's mails: one without SMTP leaves them alone
            return 0
        jobs = email_outbox.claim_due(self.storage.engine, self.owner, clock.now(), self.batch)
        if not jobs:
            return 0
        with self.storage.engine.begin() as conn:
            secret = email_outbox.server_secret(conn, rsvp_token.PURPOSE)
        with SmtpSession(settings) as session:
            outcomes = [(job, self._send(session, secret, job)) for job in jobs
                        if email_outbox.renew(self.storage.engine, job, self.owner, clock.now())]
        try:
            email_outbox.record_statuses(self.storage, outcomes)
        except Exception as e:  # the statuses stay in the outbox rows (the API shows them)
            logger.warning("SCHEDULE-STATUS after sending: %s", e)
        return len(jobs)

    def _send(self, session: SmtpSession, secret: str, job) -> str:
        """Send one row and record the attempt; returns its SCHEDULE-STATUS."""
        now = clock.now()
        error, permanent = None, False
        try:
            session.send(compose(session.settings, secret, job, now))
            status = f"{email_outbox.SENT};Sent by email"
        except PermanentFailure as e:
            error, permanent = str(e), True
            status = f"{email_outbox.REFUSED};{e}"
        except (OSError, smtplib.SMTPException) as e:
            error = f"{type(e).__name__}: {e}"
            status = f"{email_outbox.NOT_SENT};Not sent: {error}"
        except Exception as e:  # a bug (a message we cannot build): give up on this one, say why
            logger.warning("email job %s could not be built", job.id, exc_info=True)
            error, permanent = f"{type(e).__name__}: {e}", True
            status = f"{email_outbox.NOT_SENT};Could not be sent: {error}"
        if error is not None:
            logger.warning("email to %s about %s: %s", job.recipient, job.uid, error)
        return email_outbox.finish(self.storage.engine, job, self.owner, now, status, error, permanent)
