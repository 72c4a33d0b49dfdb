"""The poller: a thread in every server process; whichever holds the mailbox's lease polls.

For each unseen mail (oldest first, at most ``batch`` per poll): its REPLYs are read
(``imip.replies_in``), each answer is checked against the organizer's copy and queued in one
transaction with the record that it was taken (``ledger.take``), delivered at once, and only
then is the mail marked ``\\Seen``. A mail that is not taken is marked too, with a log line:
``\\Flagged`` as well when it is refused (unreadable, answering for someone other than its
sender or for a Planerix user, or answering an older version of the event), so an admin finds
it. Nothing one mail does stops the loop.
"""
from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa

from scheduling import imip, itip
from server.mail_replies import ledger
from server.mail_replies.mailbox import FLAGGED, MAX_MAIL_BYTES, SEEN, MailboxSession
from server.mail_replies.settings import MailboxSettings
from storage_plugin import clock, directory, outside_answers, scheduling

logger = logging.getLogger("planerix.mail_replies")

TAKEN, IGNORED, REFUSED = "taken", "ignored", "refused"


@dataclass
class PollReport:
    """How many mails one poll took, ignored and refused."""
    outcomes: dict[str, int] = field(default_factory=lambda: {TAKEN: 0, IGNORED: 0, REFUSED: 0})

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1


class MailboxPoller(scheduling.Worker):
    """Polls the configured mailbox every ``poll_seconds`` across all server processes (the
    scheduling worker's loop, with this ``run_due``)."""
    thread_name = "planerix-mail-replies"

    def __init__(self, storage, settings: MailboxSettings, batch: int = 50) -> None:
        super().__init__(storage, settings.poll_seconds, batch)
        self.settings = settings

    def run_due(self) -> int:
        report = self._poll(now_anyway=False)
        return sum(report.outcomes.values()) if report is not None else 0

    def poll_now(self) -> Optional[PollReport]:
        """Poll at once unless another process is polling (then None)."""
        return self._poll(now_anyway=True)

    def _poll(self, now_anyway: bool) -> Optional[PollReport]:
        engine, mailbox = self.storage.engine, self.settings.name
        if not ledger.claim(engine, mailbox, self.owner, clock.now(), self.settings.poll_seconds, now_anyway):
            return None
        report, error = PollReport(), None
        try:
            with MailboxSession(self.settings) as session:
                for uid in session.unseen()[:self.batch]:
                    if not ledger.renew(engine, mailbox, self.owner, clock.now()):
                        break  # the lease ran out: another process polls now
                    outcome = self._one(session, uid)
                    if outcome is not None:
                        report.count(outcome)
        except Exception as e:  # the mail server or the database is away: the next poll tries again
            error = f"{type(e).__name__}: {e}"[:500]
            logger.warning("polling %s for answers: %s", mailbox, error)
        finally:
            ledger.release(engine, mailbox, self.owner, clock.now(), self.settings.poll_seconds, error)
        return report

    def _one(self, session: MailboxSession, uid: bytes) -> Optional[str]:
        """Take one mail and mark it; its outcome (None: gone meanwhile)."""
        if session.size(uid) > MAX_MAIL_BYTES:
            outcome, jobs = self._refused(uid, f"larger than {MAX_MAIL_BYTES} bytes"), []
        else:
            raw = session.fetch(uid)
            if raw is None:
                return None
            outcome, jobs = self._take(uid, raw)
        if jobs:
            scheduling.deliver_all(self.storage, jobs)  # else any server's scheduling worker does it
        session.mark(uid, *((SEEN, FLAGGED) if outcome == REFUSED else (SEEN,)))
        return outcome

    def _refused(self, uid: bytes, why: str) -> str:
        logger.warning("mail %s in %s refused (marked seen and flagged): %s", uid.decode(), self.settings.name, why)
        return REFUSED

    def _take(self, uid: bytes, raw: bytes) -> tuple[str, list[int]]:
        """(outcome, jobs queued) of the REPLYs of one mail."""
        try:
            mail = email.message_from_bytes(raw, policy=email.policy.default)
            replies = imip.replies_in(mail)
            message_id = str(mail.get("Message-ID", "") or "")
        except imip.RefusedReply as e:
            return self._refused(uid, str(e)), []
        except Exception as e:  # the email package's parsers raise many kinds on broken mail
            return self._refused(uid, f"unreadable mail: {type(e).__name__}: {e}"), []
        if not replies:
            logger.info("mail %s in %s carries no iTIP REPLY: marked seen", uid.decode(), self.settings.name)
            return IGNORED, []
        jobs, outcome = [], IGNORED
        for reply in replies:
            try:
                job, outdated = self._apply(reply, message_id)
            except outside_answers.Unanswerable as e:
                logger.info("answer of %s to %s by mail not taken: %s", reply.attendee[7:], reply.uid, e)
                continue
            except imip.RefusedReply as e:
                outcome = self._refused(uid, f"answer of {reply.attendee[7:]} to {reply.uid}: {e}")
                continue
            except sa.exc.DBAPIError:
                raise  # the database is away: the mail stays unseen for the next poll
            except Exception as e:  # a REPLY this code cannot handle must not hold up the mails after it
                logger.warning("answer of %s to %s by mail could not be applied", reply.attendee[7:], reply.uid,
                               exc_info=True)
                outcome = self._refused(uid, f"could not be applied: {type(e).__name__}: {e}")
                continue
            if job is not None:
                jobs.append(job)
            if outdated:
                outcome = self._refused(uid, f"answer of {reply.attendee[7:]} to {reply.uid} not taken for "
                                             f"{'; '.join(outdated)}")
        return (outcome if outcome == REFUSED or not jobs else TAKEN), jobs

    def _apply(self, reply: imip.InboundReply, message_id: str) -> tuple[Optional[scheduling.JobKey], list[str]]:
        """Queue one answer to its organizer's account with the record that it was taken (one
        transaction): the job's key (None when this REPLY was taken before) and why instances it
        answers were left out (answered at an older SEQUENCE). RefusedReply when nothing of it
        may be taken."""
        with self.storage.engine.begin() as conn:
            if directory.account_for_address(conn, reply.attendee) is not None:
                # A Planerix user answers through CalDAV only: From is no proof of who sent a mail.
                raise imip.RefusedReply(f"{reply.attendee[7:]} is a Planerix user, whose answers are "
                                        "never taken from mail")
            account = next((found for address in (reply.organizer, *reply.recipients)
                            if address and (found := directory.account_for_address(conn, address))), None)
            if account is None:
                raise outside_answers.Unanswerable("neither its ORGANIZER nor its recipients are Planerix users")
            calendar, _ = outside_answers.invitation(conn, account, reply.uid, reply.attendee)
            if not ledger.take(conn, account, reply, self.settings.name, message_id, clock.now()):
                logger.info("answer of %s to %s by mail was taken before", reply.attendee[7:], reply.uid)
                return None, []
            message, outdated = itip.reply_from_outside(calendar, reply.attendee, reply.calendar, clock.now())
            if message is None and outdated:
                raise imip.RefusedReply(f"it answers an older version of the event: {'; '.join(outdated)}")
            if message is None:
                raise outside_answers.Unanswerable("it answers no instance the attendee is invited to")
            job = outside_answers.queue_reply(conn, account, reply.attendee, message)
            ledger.record_job(conn, account, reply, job[0])
            return job, outdated
