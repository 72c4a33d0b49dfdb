"""Keeps the embedded PostgreSQL running under ``planerix serve``.

Its postmaster is not our child (``pg_ctl`` detaches it), so its death is noticed by
polling ``postmaster.pid``. A dead server is restarted after a delay that doubles with
each failed attempt; after ``max_attempts`` failures in a row the supervisor gives up,
and ``serve`` stops with a non-zero status for a service manager to restart it all.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

logger = logging.getLogger("planerix.supervisor")
LONGEST_DELAY = 60.0
# One restart attempt (the wheel's pg_ctl gives up after 10 s, but then waits for the
# server's "ready" without a bound).
RESTART_TIMEOUT = 120.0


@dataclass(frozen=True)
class RestartPolicy:
    check_interval: float = 1.0   # how often the postmaster is looked at
    first_delay: float = 1.0      # before the first restart; doubled after each failure
    max_attempts: int = 5         # failed restarts in a row before giving up

    def delay(self, attempt: int) -> float:
        return min(LONGEST_DELAY, self.first_delay * 2 ** (attempt - 1))


def last_log_line(log_file: Path, tail_bytes: int = 4096) -> str | None:
    """The server's last words, if it wrote any (a kill -9 leaves none)."""
    try:
        with log_file.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - tail_bytes))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1].strip() if lines else None


class DatabaseSupervisor:

    def __init__(self, embedded, policy: RestartPolicy, on_restarted: Callable[[], None],
                 on_give_up: Callable[[str], None]) -> None:
        self._embedded = embedded
        self._policy = policy
        self._on_restarted = on_restarted
        self._on_give_up = on_give_up
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="database-supervisor", daemon=True)

    def start(self) -> None:
        self._pid = self._embedded.running_pid()
        self._thread.start()

    def stop(self) -> None:
        """Before the database itself is stopped: its stop is no death to repair."""
        self._stopping.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.wait(self._policy.check_interval):
            if self._embedded.running_pid() is None and not self._recover():
                return

    def _recover(self) -> bool:
        last_words = last_log_line(self._embedded.log_file)
        logger.warning("the embedded PostgreSQL (postmaster pid %s) is no longer running: it was "
                       "killed or crashed%s; restarting it", self._pid,
                       f" (its log ends with: {last_words})" if last_words else "")
        for attempt in range(1, self._policy.max_attempts + 1):
            delay = self._policy.delay(attempt)
            if self._stopping.wait(delay):
                return False
            try:
                self._pid = self._restart_within(RESTART_TIMEOUT)
            except Exception as e:  # pg_ctl's failure, a timeout: try again after a longer delay
                last_words = last_log_line(self._embedded.log_file)
                logger.error("restart %d of %d of the embedded PostgreSQL failed: %s%s",
                             attempt, self._policy.max_attempts, " ".join(str(e).split()),
                             f" (its log ends with: {last_words})" if last_words else "")
                continue
            logger.warning("the embedded PostgreSQL is running again (postmaster pid %s, restart %d)",
                           self._pid, attempt)
            self._on_restarted()
            return True
        reason = (f"the embedded PostgreSQL could not be restarted ({self._policy.max_attempts} "
                  f"attempts failed; its log: {self._embedded.log_file})")
        logger.error("%s; stopping", reason)
        self._on_give_up(reason)
        return False

    def _restart_within(self, seconds: float) -> int:
        """``restart`` in a thread of its own, so that an attempt that hangs is a failure too
        (the thread is left behind; exiting the process ends it)."""
        outcome: dict = {}

        def attempt() -> None:
            try:
                outcome["pid"] = self._embedded.restart()
            except Exception as e:
                outcome["error"] = e
        worker = threading.Thread(target=attempt, name="database-restart", daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            raise TimeoutError(f"the restart did not finish within {seconds:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["pid"]
