"""The email outbox (iMIP): invitations and cancellations for attendees outside Planerix.

``queue`` runs in the organizer's write transaction (next to the schedule_job rows of local
recipients), so the write and the intent to send commit together. Any server's email worker
(server/scheduling/email_delivery.py) then ``claim_due``s rows with FOR UPDATE SKIP LOCKED and a
lease, ``renew``s the lease right before sending each row and ``finish``es it only while it still
holds the lease: a row is sent once unless a process dies between the SMTP server's acceptance
and the commit of ``finish`` (then it is sent again after the lease). ``record_statuses``
writes the outcomes into the organizer's copy as SCHEDULE-STATUS (RFC 6638 §3.2.9): 1.0 queued,
1.1 sent by email, 5.1 not sent (retrying, or given up), 5.3 refused for good by the mail server;
3.7 (set at write time) when no SMTP server is configured.
Times come from ``storage_plugin.clock`` so tests can drive retries and expiry.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa

from scheduling import itip
from scheduling.addresses import address_key, normalise_address
from storage_plugin import clock

if TYPE_CHECKING:
    from storage_plugin.storage import Storage

QUEUED, SENT = "1.0", "1.1"
NOT_SENT, REFUSED = "5.1", "5.3"
LEASE_SECONDS = 300          # renewed before each mail; longer than one SMTP conversation
MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 30     # then doubling, at most an hour: 8 attempts span about two hours
MAX_RETRY_SECONDS = 3600

# Environment variables, used for the options the [email] section leaves empty.
ENVIRONMENT = {"host": "PLANERIX_SMTP_HOST", "port": "PLANERIX_SMTP_PORT", "security": "PLANERIX_SMTP_SECURITY",
               "username": "PLANERIX_SMTP_USERNAME", "password": "PLANERIX_SMTP_PASSWORD",
               "sender": "PLANERIX_EMAIL_SENDER", "rsvp_url": "PLANERIX_RSVP_URL"}
SECURITY_PORTS = {"tls": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class EmailSettings:
    host: str = ""
    port: int = 0
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    rsvp_url: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    @property
    def smtp_port(self) -> int:
        return self.port or SECURITY_PORTS[self.security]

    @classmethod
    def from_configuration(cls, configuration) -> "EmailSettings":
        """[email] of the server's configuration, each empty option filled from its environment variable."""
        values = email_options(configuration, ENVIRONMENT)
        return cls(values["host"], port_option(values, "port"), security_option(values, "security"),
                   values["username"], values["password"], values["sender"], values["rsvp_url"].rstrip("/"))


def email_options(configuration, environment: dict[str, str]) -> dict[str, str]:
    """The [email] options named in ``environment`` (option -> variable), each empty one filled
    from its environment variable."""
    values = {}
    for option, variable in environment.items():
        try:
            value = configuration.get("email", option)
        except KeyError:  # plain Radicale configuration: no such section or option
            value = None
        if value in (None, "", 0):
            value = os.environ.get(variable, "")
        values[option] = str(value).strip()
    return values


def security_option(values: dict[str, str], option: str) -> str:
    security = (values[option] or "starttls").lower()
    if security not in SECURITY_PORTS:
        raise ValueError(f"[email] {option} is {security!r}: use none, starttls or tls")
    return security


def port_option(values: dict[str, str], option: str) -> int:
    try:
        port = int(values[option] or 0)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"[email] {option} is {values[option]!r}: give a port number")
    return port


def settings_of(storage: "Storage") -> EmailSettings:
    return EmailSettings.from_configuration(storage.configuration)


def external_status(settings: EmailSettings):
    """The SCHEDULE-STATUS an attendee outside Planerix gets when a message for them is queued."""
    def status(address: str) -> str:
        return QUEUED if settings.configured and normalise_address(address) else itip.NOT_LOCAL
    return status


_SUPERSEDE = sa.text("""
    UPDATE email_job SET done = :now, last_status = '2.0;Replaced by a newer message before it was sent'
    WHERE organizer_account = :account AND uid = :uid AND recipient = ANY(:recipients) AND done IS NULL
      AND (lease_until IS NULL OR lease_until < :now)""")
_INSERT = sa.text("""
    INSERT INTO email_job (organizer_account, organizer, recipient, method, uid, itip, next_run)
    SELECT :account, :organizer, recipient, method, :uid, itip, :now
    FROM unnest(CAST(:recipients AS text[]), CAST(:methods AS text[]), CAST(:itips AS text[]))
         AS m(recipient, method, itip)""")


def queue(conn, storage: "Storage", account: str, organizer: str, messages: list[itip.Message]) -> int:
    """Insert the mails for ``messages`` to external attendees (mailto: only); returns how many.
    A message not yet sent to the same person about the same event is replaced by the newer one."""
    if not messages or not settings_of(storage).configured:
        return 0
    mails = [(recipient, m.method, m.text) for m in messages
             if (recipient := normalise_address(m.recipient)) is not None and m.method in ("REQUEST", "CANCEL")]
    if not mails:
        return 0
    recipients, methods, texts = (list(column) for column in zip(*mails))
    key = {"account": account, "uid": messages[0].uid, "recipients": recipients, "now": clock.now()}
    conn.execute(_SUPERSEDE, key)
    conn.execute(_INSERT, {**key, "organizer": address_key(organizer), "methods": methods, "itips": texts})
    return len(mails)


# -- the signing secret of RSVP links ---------------------------------------------------------
_NEW_SECRET = sa.text("INSERT INTO server_secret (purpose, secret) VALUES (:purpose, :secret) "
                      "ON CONFLICT (purpose) DO NOTHING")
_SECRET = sa.text("SELECT secret FROM server_secret WHERE purpose = :purpose")


def server_secret(conn, purpose: str) -> str:
    """The server's secret for ``purpose``, made on first use (the same in every process)."""
    conn.execute(_NEW_SECRET, {"purpose": purpose, "secret": secrets.token_urlsafe(32)})
    return conn.execute(_SECRET, {"purpose": purpose}).scalar_one()


# -- claiming, finishing ---------------------------------------------------------------------
_CLAIM_DUE = sa.text("""
    WITH due AS (
        SELECT id, organizer_account FROM email_job
        WHERE done IS NULL AND next_run <= :now AND (lease_until IS NULL OR lease_until < :now)
        ORDER BY next_run, id LIMIT :batch FOR UPDATE SKIP LOCKED)
    UPDATE email_job j SET lease_owner = :owner, lease_until = :now + make_interval(secs => :lease)
    FROM due WHERE j.id = due.id AND j.organizer_account = due.organizer_account RETURNING j.*""")
_SENT = sa.text("""
    UPDATE email_job SET sent = :now, done = :now, attempts = attempts + 1, last_status = :status,
           last_error = NULL, lease_owner = NULL, lease_until = NULL
    WHERE id = :id AND organizer_account = :account AND lease_owner = :owner AND done IS NULL""")
_FAILED = sa.text("""
    UPDATE email_job SET attempts = attempts + 1, last_status = :status, last_error = :error,
           lease_owner = NULL, lease_until = NULL, next_run = :next_run,
           done = CASE WHEN :final THEN :now END
    WHERE id = :id AND organizer_account = :account AND lease_owner = :owner AND done IS NULL""")


def claim_due(engine, owner: str, now: datetime, batch: int = 20) -> list:
    with engine.begin() as conn:
        return list(conn.execute(_CLAIM_DUE, {"now": now, "owner": owner, "lease": LEASE_SECONDS, "batch": batch}))


_RENEW = sa.text("""
    UPDATE email_job SET lease_until = :now + make_interval(secs => :lease)
    WHERE id = :id AND organizer_account = :account AND lease_owner = :owner AND done IS NULL RETURNING id""")


def renew(engine, job, owner: str, now: datetime) -> bool:
    """Whether the lease on ``job`` is still ours (then extended): checked right before sending,
    so a batch that outlived its lease never sends what another process has claimed since."""
    with engine.begin() as conn:
        renewed = conn.execute(_RENEW, {"id": job.id, "account": job.organizer_account, "owner": owner, "now": now, "lease": LEASE_SECONDS}).first()
    return renewed is not None


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS))


def finish(engine, job, owner: str, now: datetime, status: str, error: Optional[str] = None,
           permanent: bool = False) -> str:
    """Record an attempt (``error`` None: sent); returns the SCHEDULE-STATUS it leaves."""
    with engine.begin() as conn:
        if error is None:
            conn.execute(_SENT, {"id": job.id, "account": job.organizer_account, "owner": owner, "now": now, "status": status})
            return status
        attempts = job.attempts + 1
        final = permanent or attempts >= MAX_ATTEMPTS
        if not permanent:
            status += (f" (gave up after {attempts} attempts)" if final
                       else f" (attempt {attempts} of {MAX_ATTEMPTS}; retrying)")
        conn.execute(_FAILED, {"id": job.id, "account": job.organizer_account, "owner": owner, "now": now, "status": status[:500],
                               "error": error[:1000], "final": final,
                               "next_run": now if final else now + retry_delay(attempts)})
        return status


# -- the outcome on the organizer's copy ---------------------------------------------------------
_NEWER = sa.text("SELECT EXISTS (SELECT 1 FROM email_job WHERE organizer_account = :account AND uid = :uid "
                 "AND recipient = :recipient AND id > :id)")


def record_statuses(storage: "Storage", outcomes: list[tuple[object, str]]) -> None:
    """Set SCHEDULE-STATUS of each job's attendee on the organizer's copy (one rewrite per event),
    unless a newer message to them has been queued since (its status is the one to show). A
    server-side change: the Schedule-Tag stays (answer parameters are not part of it)."""
    from storage_plugin import directory, scheduling

    events: dict[tuple[str, str], list] = {}
    for job, status in outcomes:
        events.setdefault((job.organizer_account, job.uid), []).append((job, status.split(";", 1)[0]))
    for (account, uid), statuses in events.items():
        with storage.acquire_lock("w", account, path=f"/{account}/"):
            with storage.connection() as conn:
                current = [(job.recipient, code) for job, code in statuses if not conn.execute(_NEWER, {
                    "account": account, "uid": uid, "recipient": job.recipient, "id": job.id}).scalar()]
                found = conn.execute(scheduling._BY_UID_IN_HOME, {
                    "home": account, "uid": uid, "default": directory.default_calendar_path(conn, account) or ""}
                ).first()
                if not current or found is None:
                    continue
                calendar = itip.parse(found.text)
                changed = False
                for component in itip.scheduled(calendar):
                    for recipient, code in current:
                        attendee = itip.find_attendee(component, [recipient])
                        if attendee is not None and str(attendee.params.get("SCHEDULE-STATUS", "")) != code:
                            attendee.params["SCHEDULE-STATUS"] = code
                            changed = True
                if changed:
                    collection = scheduling._collection(storage, conn, found.path)
                    text = calendar.to_ical().decode("utf-8")
                    storage.write_item(conn, collection, found.href, scheduling._prepared(storage, text, found.path))


_OF_ORGANIZER = sa.text("""
    SELECT id, uid, recipient, method, created, attempts, next_run, sent, done, last_status, last_error
    FROM email_job WHERE organizer_account = :account AND (CAST(:uid AS text) IS NULL OR uid = :uid)
    ORDER BY id DESC LIMIT :limit""")


def of_organizer(conn, account: str, uid: Optional[str], limit: int = 200) -> list:
    """The latest mails an organizer's writes queued (for the API)."""
    return list(conn.execute(_OF_ORGANIZER, {"account": account, "uid": uid, "limit": limit}))
