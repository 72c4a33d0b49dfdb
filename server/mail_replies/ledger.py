"""The database's side of polling: the mailbox's lease, and the answers taken from it.

A poll is claimed on the mailbox's ``mailbox_poll`` row with FOR UPDATE SKIP LOCKED and a
lease, renewed before each mail; releasing it sets when the next poll is due, so all servers
together poll once per interval. ``taken`` records an answer in the transaction that queues it:
a REPLY seen again is recognised by its digest and changes nothing.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

LEASE_SECONDS = 120     # renewed before each mail; longer than fetching and applying one

_ENSURE = sa.text("INSERT INTO mailbox_poll (mailbox, next_poll) VALUES (:mailbox, :now) ON CONFLICT DO NOTHING")
_CLAIM = sa.text("""
    WITH free AS (
        SELECT mailbox FROM mailbox_poll
        WHERE mailbox = :mailbox
          AND (:now_anyway OR next_poll <= :now OR next_poll > :now + make_interval(secs => :interval))
          AND (lease_until IS NULL OR lease_until < :now)
        FOR UPDATE SKIP LOCKED)
    UPDATE mailbox_poll p SET lease_owner = :owner, lease_until = :now + make_interval(secs => :lease)
    FROM free WHERE p.mailbox = free.mailbox RETURNING p.mailbox""")
_RENEW = sa.text("""
    UPDATE mailbox_poll SET lease_until = :now + make_interval(secs => :lease)
    WHERE mailbox = :mailbox AND lease_owner = :owner RETURNING mailbox""")
_RELEASE = sa.text("""
    UPDATE mailbox_poll SET lease_owner = NULL, lease_until = NULL, last_poll = :now, next_poll = :next_poll,
           last_error = :error
    WHERE mailbox = :mailbox AND lease_owner = :owner""")
_TAKE = sa.text("""
    INSERT INTO mail_reply (organizer_account, digest, uid, attendee, mailbox, message_id, received)
    VALUES (:account, :digest, :uid, :attendee, :mailbox, :message_id, :now)
    ON CONFLICT DO NOTHING RETURNING digest""")
_JOB = sa.text("UPDATE mail_reply SET schedule_job = :job WHERE organizer_account = :account AND digest = :digest")


def claim(engine, mailbox: str, owner: str, now: datetime, interval: float, now_anyway: bool = False) -> bool:
    """Whether this process may poll ``mailbox`` now (then it holds the lease): nobody else
    holds it, and the next poll is due (or ``now_anyway``). A next poll further away than
    ``interval`` (set with a longer interval, or before the clock went back) is due too."""
    with engine.begin() as conn:
        conn.execute(_ENSURE, {"mailbox": mailbox, "now": now})
        return conn.execute(_CLAIM, {"mailbox": mailbox, "owner": owner, "now": now, "now_anyway": now_anyway,
                                     "interval": interval, "lease": LEASE_SECONDS}).first() is not None


def renew(engine, mailbox: str, owner: str, now: datetime) -> bool:
    """Whether the lease is still ours (then extended): checked before each mail."""
    with engine.begin() as conn:
        return conn.execute(_RENEW, {"mailbox": mailbox, "owner": owner, "now": now,
                                     "lease": LEASE_SECONDS}).first() is not None


def release(engine, mailbox: str, owner: str, now: datetime, interval: float, error: Optional[str]) -> None:
    with engine.begin() as conn:
        conn.execute(_RELEASE, {"mailbox": mailbox, "owner": owner, "now": now, "error": error,
                                "next_poll": now + timedelta(seconds=interval)})


def take(conn, account: str, reply, mailbox: str, message_id: Optional[str], now: datetime) -> bool:
    """Record ``reply`` (an imip.InboundReply) as taken for ``account``; False if it was before."""
    return conn.execute(_TAKE, {"account": account, "digest": reply.digest, "uid": reply.uid,
                                "attendee": reply.attendee, "mailbox": mailbox,
                                "message_id": (message_id or "")[:500] or None, "now": now}).first() is not None


def record_job(conn, account: str, reply, job_id: int) -> None:
    conn.execute(_JOB, {"account": account, "digest": reply.digest, "job": job_id})
