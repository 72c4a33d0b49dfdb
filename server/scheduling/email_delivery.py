"""Sending the email outbox (storage_plugin/email_outbox.py) through the configured SMTP server.

Every server process runs one ``EmailWorker`` thread; they share the rows through the outbox's
claim (FOR UPDATE SKIP LOCKED with a lease). A mail server's 4xx or a network failure is retried
with backoff; a 5xx gives up at once. Each outcome goes onto the organizer's copy as
SCHEDULE-STATUS, and into the outbox row (the API's /api/email-invitations).
"""
from __future__ import annotations

import logging
import os
import secrets
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from typing import Optional

from scheduling import imip, itip, rsvp_token
from scheduling.addresses import normalise_address
from storage_plugin import clock, email_outbox

logger = logging.getLogger("planerix.email")

SMTP_TIMEOUT_SECONDS = 30


class PermanentFailure(Exception):
    """The mail server refused for good (5xx): retrying would not help."""


def send(settings: email_outbox.EmailSettings, mail: EmailMessage) -> None:
    """One SMTP conversation; raises PermanentFailure for 5xx answers, OSError/SMTPException otherwise."""
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, settings.password)
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"the recipient's address was refused: {e.recipients}") from None
        raise
    except smtplib.SMTPResponseException as e:
        if e.smtp_code >= 500:
            raise PermanentFailure(f"the mail server refused: {e.smtp_code} {e.smtp_error!r}") from None
        raise


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


class EmailWorker:
    """Claims due outbox rows and sends them, in a thread of each server process."""

    def __init__(self, storage, interval: float = 2.0, batch: int = 20) -> None:
        self.storage, self.interval, self.batch = storage, interval, batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

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
        for job in jobs:
            self._send(settings, secret, job)
        return len(jobs)

    def _send(self, settings, secret: str, job) -> None:
        now = clock.now()
        error, permanent = None, False
        try:
            send(settings, compose(settings, secret, job, now))
            status = f"{email_outbox.SENT};Sent by email"
        except PermanentFailure as e:
            error, permanent = str(e), True
            status = f"{email_outbox.REFUSED};{e}"
        except (OSError, smtplib.SMTPException) as e:
            error = f"{type(e).__name__}: {e}"
            status = f"{email_outbox.NOT_SENT};Not sent yet: {error}"
        except Exception as e:  # a bug (a message we cannot build): give up on this one, say why
            logger.warning("email job %s could not be built", job.id, exc_info=True)
            error, permanent = f"{type(e).__name__}: {e}", True
            status = f"{email_outbox.NOT_SENT};Could not be sent: {error}"
        if error is not None:
            logger.warning("email to %s about %s: %s", job.recipient, job.uid, error)
        status = email_outbox.finish(self.storage.engine, job, self.owner, now, status, error, permanent)
        try:
            email_outbox.record_status(self.storage, job, status)
        except Exception as e:  # the status is in the outbox row; the copy catches up next time
            logger.warning("SCHEDULE-STATUS of %s on %s: %s", job.recipient, job.uid, e)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="planerix-email", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(SMTP_TIMEOUT_SECONDS)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                while self.run_due() and not self._stop.is_set():
                    pass
            except Exception as e:  # the database may be away for a while: try again later
                logger.warning("email worker: %s", e)
