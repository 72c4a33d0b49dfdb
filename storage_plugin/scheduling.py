"""Implicit scheduling in the storage: what a write of a scheduling object queues, and the
delivery of the queue into recipients' calendars.

``before_write`` and ``before_delete`` run inside the writer's transaction (Collection.upload and
delete, under the owner's lock): they compute the iTIP messages (``scheduling.itip``), rewrite
the stored text (SCHEDULE-STATUS) and insert one ``schedule_job`` row per local recipient, so
the write and the intent to deliver commit together. After the commit ``deliver`` applies each
job in its own transaction under the recipient's lock, and marks it done in that transaction:
a job is applied once, whoever delivers it (the writing request, or any process's ``Worker``
when that request's process died in between).
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from radicale import item as radicale_item
from radicale import pathutils

from scheduling import itip
from scheduling.addresses import address_key
from storage_plugin import clock, directory, email_outbox, item_events, queries, request_state, resources

if TYPE_CHECKING:
    from storage_plugin.collection import Collection
    from storage_plugin.storage import Storage

logger = logging.getLogger("planerix.scheduling")

# A job left by a process is given this long to be delivered by that process's request before
# a worker takes it (both would be safe; this keeps the worker off fresh jobs).
GRACE_SECONDS = 5
LEASE_SECONDS = 60
MAX_ATTEMPTS = 8
KEEP_DONE_DAYS = 7

# A job is named by its key, (id, recipient_account): its delivery touches the recipient's data only.
JobKey = tuple[int, str]
_INSERT_JOB = sa.text("""
    INSERT INTO schedule_job (sender, recipient, recipient_account, method, uid, itip, next_run)
    VALUES (:sender, :recipient, :account, :method, :uid, :itip,
            now() + make_interval(secs => :grace)) RETURNING id, recipient_account""")
# Under the recipient's lock, so no other delivery of the job is under way; a worker's claim may
# hold the row for a moment (its short transaction takes no recipient lock): wait for it rather
# than skip, so that whoever asked for the delivery (the writer, the mailbox poller, the RSVP page)
# returns with the job applied, not while a worker is about to apply it.
_TAKE = sa.text("SELECT * FROM schedule_job WHERE id = :id AND recipient_account = :account AND done IS NULL"
                " FOR UPDATE")
_FINISH = sa.text("UPDATE schedule_job SET done = now(), last_status = :status, lease_owner = NULL, "
                  "lease_until = NULL, attempts = attempts + 1 WHERE id = :id AND recipient_account = :account")
_FAILED = sa.text("""
    UPDATE schedule_job SET attempts = attempts + 1, last_status = :status, lease_owner = NULL,
           lease_until = NULL, next_run = now() + make_interval(secs => :delay),
           done = CASE WHEN attempts + 1 >= :max_attempts THEN now() END
    WHERE id = :id AND recipient_account = :account AND done IS NULL""")
_ATTEMPTS = sa.text("SELECT attempts FROM schedule_job WHERE id = :id AND recipient_account = :account")
_CLAIM_DUE = sa.text("""
    WITH due AS (
        SELECT id FROM schedule_job
        WHERE done IS NULL AND next_run <= now() AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_run LIMIT :batch FOR UPDATE SKIP LOCKED)
    UPDATE schedule_job j SET lease_owner = :owner, lease_until = now() + make_interval(secs => :lease)
    FROM due WHERE j.id = due.id RETURNING j.id, j.recipient_account""")
_PRUNE = sa.text("DELETE FROM schedule_job WHERE done < now() - make_interval(days => :days)")
# The object with a UID anywhere in an account's home (its calendars, not the inbox or outbox).
_BY_UID_IN_HOME = sa.text(f"""
    SELECT c.path, i.href, i.text FROM item i JOIN collection c ON c.id = i.collection_id AND c.owner = i.owner
    WHERE c.parent_path = :home AND c.owner = :home AND i.owner = :home AND c.kind = 'normal'
      AND c.tag = 'VCALENDAR' AND i.uid = :uid
    ORDER BY c.path <> :default, c.path, i.href LIMIT 1""")
_OLD_TEXT = sa.text("SELECT text FROM item WHERE collection_id = :cid AND href = :href AND owner = :owner")
_SCHEDULE_TAG = sa.text("SELECT schedule_tag FROM item WHERE collection_id = :cid AND href = :href"
                        " AND owner = :owner")


def _active() -> Optional[request_state.RequestState]:
    state = request_state.current()
    return state if state is not None and state.scheduling else None


def own_addresses(conn, account: str) -> set[str]:
    """Every address that names ``account``: its mailto: addresses and its principal URL."""
    return set(directory.addresses_of(conn, account)) | {f"/{account}/"}


class _Directory:
    """Address -> local account as ``sender`` may know it, cached for one write: only accounts
    in the principal search's scope (sharing an organisation) are local to the sender; anyone
    else is treated as external, so SCHEDULE-STATUS tells nobody that an account exists."""

    def __init__(self, conn, sender: str) -> None:
        self._conn, self._sender = conn, sender
        self._known: dict[str, Optional[str]] = {}

    def account(self, address: str) -> Optional[str]:
        if address not in self._known:
            found = directory.account_for_address(self._conn, address)
            if found is not None and not directory.visible(self._conn, self._sender, found):
                found = None
            self._known[address] = found
        return self._known[address]

    def is_local(self, address: str) -> bool:
        return self.account(address) is not None


def retry_after(storage: "Storage") -> float:
    """[scheduling] retry_after_seconds of the server's configuration (GRACE_SECONDS without one)."""
    try:
        return float(storage.configuration.get("scheduling", "retry_after_seconds"))
    except (KeyError, TypeError, ValueError):
        return GRACE_SECONDS


def queue(conn, sender: str, messages: list[itip.Message], accounts: _Directory,
          grace: float = GRACE_SECONDS) -> list[JobKey]:
    keys = []
    for message in messages:
        account = accounts.account(message.recipient)
        if account is None:
            continue
        keys.append(tuple(conn.execute(_INSERT_JOB, {
            "sender": sender, "recipient": message.recipient, "account": account, "method": message.method,
            "uid": message.uid, "itip": message.text, "grace": grace}).one()))
    return keys


def _may_schedule(collection: "Collection") -> bool:
    return collection.kind == "normal" and collection.tag == "VCALENDAR"


def check_schedule_tag(conn, collection: "Collection", href: str) -> None:
    """If-Schedule-Tag-Match (RFC 6638 §8.3): 412 unless the stored object has that tag."""
    state = request_state.current()
    if state is None or state.if_schedule_tag_match is None:
        return
    stored = conn.execute(_SCHEDULE_TAG, {"cid": collection.id, "owner": collection.owner, "href": href}).scalar()
    if stored is None or f'"{stored}"' != state.if_schedule_tag_match.strip():
        raise request_state.StorageRejection(
            412, None, f"the Schedule-Tag is {f'{chr(34)}{stored}{chr(34)}' if stored else 'absent'}, not "
            f"{state.if_schedule_tag_match}: the object changed; fetch it again")


def before_write(storage: "Storage", conn, collection: "Collection", href: str,
                 item: radicale_item.Item) -> radicale_item.Item:
    """The item to store for a client's PUT, with the jobs it sends queued in ``conn``."""
    check_schedule_tag(conn, collection, href)
    state = _active()
    text = item.serialize()
    if state is None or not _may_schedule(collection) or "ORGANIZER" not in text:
        return item
    old_text = conn.execute(_OLD_TEXT, {"cid": collection.id, "owner": collection.owner, "href": href}).scalar()
    owner = collection.path.split("/", 1)[0]
    own = own_addresses(conn, owner)
    new, old = itip.parse(text), itip.parse(old_text) if old_text else None
    organizer = itip.organizer(new) or itip.organizer(old)
    if organizer is None:
        return item
    accounts = _Directory(conn, owner)
    if address_key(organizer) in own:
        emailed = email_outbox.external_status(email_outbox.settings_of(storage))
        outcome = itip.organizer_changes(old if itip.is_scheduling_object(old) else None, new, own,
                                         accounts.is_local, emailed)
        state.schedule_jobs += queue(conn, address_key(organizer), outcome.messages, accounts,
                                     retry_after(storage))
        email_outbox.queue(conn, storage, owner, organizer, outcome.external)
        rewritten = outcome.calendar.to_ical().decode("utf-8")
        if rewritten != text:
            item = _prepared(storage, rewritten, collection.path)
            state.rewritten = True
    else:
        reply = itip.attendee_reply(old, new, own, clock.now())
        if reply is not None:
            state.schedule_jobs += queue(conn, _sender(conn, owner), [reply], accounts, retry_after(storage))
    return item


def before_delete(storage: "Storage", conn, collection: "Collection", href: str) -> None:
    """The CANCELs (organizer) or the declining REPLY (attendee) of a client's DELETE."""
    check_schedule_tag(conn, collection, href)
    state = _active()
    if state is None or not _may_schedule(collection):
        return
    old_text = conn.execute(_OLD_TEXT, {"cid": collection.id, "owner": collection.owner, "href": href}).scalar()
    if not old_text or "ORGANIZER" not in old_text:
        return
    old = itip.parse(old_text)
    organizer = itip.organizer(old)
    if organizer is None or not itip.is_scheduling_object(old):
        return
    owner = collection.path.split("/", 1)[0]
    own, accounts = own_addresses(conn, owner), _Directory(conn, owner)
    if address_key(organizer) in own:
        outcome = itip.organizer_changes(old, None, own, accounts.is_local)
        state.schedule_jobs += queue(conn, address_key(organizer), outcome.messages, accounts,
                                     retry_after(storage))
        email_outbox.queue(conn, storage, owner, organizer, outcome.external)
    else:
        reply = itip.attendee_reply(old, None, own, clock.now())
        if reply is not None:
            state.schedule_jobs += queue(conn, _sender(conn, owner), [reply], accounts, retry_after(storage))


def schedule_tag_of(text: str) -> Optional[str]:
    """The Schedule-Tag of a stored text: None unless it is a scheduling object. Every writer
    stores it with the item (Storage.write_item), so it only changes with the meeting itself."""
    if "ORGANIZER" not in text:
        return None
    calendar = itip.parse(text)
    if not itip.is_scheduling_object(calendar):
        return None
    tag = itip.schedule_signature(calendar)[:32]
    state = request_state.current()
    if state is not None:
        state.schedule_tag = tag
    return tag


def _sender(conn, account: str) -> str:
    addresses = directory.addresses_of(conn, account)
    return addresses[0] if addresses else f"/{account}/"


def _prepared(storage: "Storage", text: str, path: str) -> radicale_item.Item:
    from storage_plugin import writer  # writer builds on the collection module, which calls this one

    try:
        return writer.prepare_item(storage, text, path)
    except writer.ItemRejected as e:  # our own rewrite of a text that was valid: a bug, say so
        raise request_state.StorageRejection(500, None, f"scheduling could not store the object: {e}") from e


# -- delivery ------------------------------------------------------------------------
def deliver(storage: "Storage", key: JobKey) -> list[JobKey]:
    """Apply one job, if nobody has yet, under its recipient's lock; returns the jobs it queued
    (a REPLY refreshes the other attendees). A failure is recorded for a later retry."""
    job_id, account = key
    try:
        with storage.acquire_lock("w", account, path=f"/{account}/"):
            with storage.connection() as conn:
                job = conn.execute(_TAKE, {"id": job_id, "account": account}).first()
                if job is None:  # done meanwhile, or being delivered by another process
                    return []
                queued, status = _apply(storage, conn, job)
                conn.execute(_FINISH, {"id": job_id, "account": account, "status": status})
                return queued
    except Exception as e:
        logger.warning("delivering scheduling job %s failed: %s", job_id, e, exc_info=True)
        with storage.engine.begin() as conn:
            attempts = conn.execute(_ATTEMPTS, {"id": job_id, "account": account}).scalar() or 0
            conn.execute(_FAILED, {"id": job_id, "account": account, "status": f"5.1;{type(e).__name__}: {e}"[:500],
                                   "delay": min(GRACE_SECONDS * 2 ** attempts, 3600),
                                   "max_attempts": MAX_ATTEMPTS})
        return []


def deliver_all(storage: "Storage", keys: list[JobKey], limit: int = 1000) -> None:
    """Deliver jobs and the jobs they queue in turn (bounded: a worker takes any rest)."""
    pending = list(keys)
    while pending and limit > 0:
        limit -= 1
        pending += deliver(storage, pending.pop(0))


def _apply(storage: "Storage", conn, job) -> tuple[list[JobKey], str]:
    """(jobs queued, request-status) of applying one job in the recipient's transaction."""
    account = job.recipient_account
    message = itip.parse(job.itip)
    own = own_addresses(conn, account)
    default = directory.default_calendar_path(conn, account)
    found = copy_in_home(conn, account, job.uid, default)
    existing = itip.parse(found.text) if found is not None else None
    queued: list[JobKey] = []
    self_answered = False
    if job.method == "REQUEST":
        updated = itip.apply_request(existing, message, own)
        target = (found.path, found.href) if found is not None else (default, None)
    elif job.method == "CANCEL":
        updated = itip.apply_cancel(existing, message)
        target = (found.path, found.href) if found is not None else (None, None)
    if job.method != "REPLY":  # a room or resource answers by itself (and keeps no inbox)
        updated, reply, self_answered = resources.answer(conn, account, job.method, updated, own, clock.now())
        queued = queue_reply(storage, conn, account, reply)
    else:  # REPLY, to the organizer's copy
        if existing is None:
            return [], "3.8;No scheduling object with this UID"
        updated, replier = itip.apply_reply(existing, message)
        if replier is None:
            return [], "3.7;The sender is not an attendee"
        target = (found.path, found.href)
        item_events.invitation_replied(conn, found.path, found.href, found.text, replier,
                                       itip.reply_answers(message), f"job {job.id}")
        accounts = _Directory(conn, account)
        refresh = [itip.Message(a, "REQUEST", job.uid, itip.request_for(updated, a))
                   for a in itip.refresh_targets(updated, own, replier)]
        queued = queue(conn, job.recipient, refresh, accounts, retry_after(storage))
    if not self_answered:
        _store_in_inbox(storage, conn, account, job.itip)
    if updated is not None and target[0] is not None:
        _store(storage, conn, target[0], target[1], job.uid, updated.to_ical().decode("utf-8"))
    return queued, "2.0;Success"


def copy_in_home(conn, account: str, uid: str, default: Optional[str] = None):
    """(path, href, text) of the object with ``uid`` in the account's calendars, the default first."""
    if default is None:
        default = directory.default_calendar_path(conn, account)
    return conn.execute(_BY_UID_IN_HOME, {"home": account, "uid": uid, "default": default or ""}).first()


def store_copy(storage: "Storage", conn, path: str, href: Optional[str], uid: str, calendar) -> None:
    _store(storage, conn, path, href, uid, calendar.to_ical().decode("utf-8"))


def queue_reply(storage: "Storage", conn, account: str, reply: Optional[itip.Message]) -> list[JobKey]:
    """Queue an account's REPLY to the organizer (none: nothing to answer)."""
    if reply is None:
        return []
    return queue(conn, _sender(conn, account), [reply], _Directory(conn, account), retry_after(storage))


def _collection(storage: "Storage", conn, path: str) -> "Collection":
    from storage_plugin.collection import Collection

    return Collection(storage, conn.execute(queries.COLLECTION_BY_PATH,
                                            {"path": path, "owner": path.split("/", 1)[0]}).one())


def _store(storage: "Storage", conn, path: str, href: Optional[str], uid: str, text: str) -> None:
    collection = _collection(storage, conn, path)
    item = _prepared(storage, text, path)
    if href is None:  # named as clients name objects (<UID>.ics) when that name is free
        href = f"{uid}.ics"
        taken = conn.execute(queries.ITEMS_BY_HREF, {"cid": collection.id, "owner": collection.owner,
                                                     "hrefs": [href], "max_size": None}).first()
        if taken is not None or not pathutils.is_safe_path_component(href) or len(href.encode()) > 255:
            href = f"{uuid.uuid4().hex}.ics"
    storage.write_item(conn, collection, href, item)


def _store_in_inbox(storage: "Storage", conn, account: str, text: str) -> None:
    path = f"{account}/{directory.INBOX}"
    if conn.execute(queries.COLLECTION_BY_PATH, {"path": path, "owner": account}).first() is None:
        return
    collection = _collection(storage, conn, path)
    storage.write_item(conn, collection, f"{uuid.uuid4().hex}.ics", _prepared(storage, text, path))


# -- the retry worker --------------------------------------------------------------------
class Worker:
    """Delivers jobs nobody delivered (their writer's process died, or delivery failed), in any
    of the server processes: claimed with FOR UPDATE SKIP LOCKED and a lease."""
    thread_name = "planerix-scheduling"

    def __init__(self, storage: "Storage", interval: float = 2.0, batch: int = 50) -> None:
        self.storage, self.interval, self.batch = storage, interval, batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def run_due(self) -> int:
        """Claim and deliver the due jobs once; returns how many were claimed."""
        with self.storage.engine.begin() as conn:
            claimed = [tuple(row) for row in conn.execute(_CLAIM_DUE, {"batch": self.batch, "owner": self.owner,
                                                                        "lease": LEASE_SECONDS})]
            conn.execute(_PRUNE, {"days": KEEP_DONE_DAYS})
        deliver_all(self.storage, claimed)
        return len(claimed)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_due()
            except Exception as e:  # the database may be away for a while: try again later
                logger.warning("scheduling worker: %s", e)
