"""A time budget for the CPU-bound parts of a request (recurrence expansion, parsing).

``limited(seconds, what)`` opens a budget for the current thread; ``check()``
ends the work with ``BudgetExceeded`` once its deadline has passed. Our own
loops call ``check()`` for every occurrence. Loops we do not own can search
without yielding anything (dateutil walks to the year 9999 for a rule that
never matches), so a watchdog thread raises ``BudgetExceeded`` inside a thread
whose deadline passed, but only while that thread runs inside the recurrence
and parser libraries (``INTERRUPTIBLE``): pure computation that holds no lock
and no database connection, so stopping it there leaves nothing half-done.

A budget can also be cancelled from another thread (``Budget.cancel``): the
feed scheduler does so when the server stops during an import.

Nested budgets keep the earlier deadline. Code that catches every exception
(Radicale's PUT preparation does) cannot hide a stop: ``Budget.exceeded``
stays set and the request is answered by it.
"""
from __future__ import annotations

import calendar
import contextlib
import contextvars
import ctypes
import math
import os
import sys
import threading
import time
from typing import Iterator, Optional

import dateutil
import vobject

# Source files whose code may be stopped from outside (see the module docstring).
INTERRUPTIBLE = (os.path.dirname(dateutil.__file__) + os.sep,
                 os.path.dirname(vobject.__file__) + os.sep,
                 calendar.__file__)
_RETRY_SECONDS = 0.02


class BudgetExceeded(Exception):
    """The work ran past its budget and was stopped."""

    def __init__(self, reason: str = "the time budget of this request ran out") -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:

    def __init__(self, seconds: float, what: str, parent: Optional["Budget"] = None) -> None:
        self.seconds = seconds
        self.what = what
        deadline = time.monotonic() + seconds
        self.deadline = min(deadline, parent.deadline) if parent is not None else deadline
        self.parent = parent
        self.exceeded = False
        self.cancelled = False

    def _cancelled(self) -> bool:
        budget: Optional[Budget] = self
        while budget is not None:
            if budget.cancelled:
                return True
            budget = budget.parent
        return False

    @property
    def reason(self) -> str:
        if self._cancelled():
            return f"{self.what} was stopped: the server is shutting down"
        if self.parent is not None and self.parent.deadline <= self.deadline and self.parent.expired():
            return self.parent.reason  # the enclosing budget ran out first
        return f"{self.what} needs more than {self.seconds:g} s of computation; the server stops there"

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline or self._cancelled()

    def trip(self) -> None:
        """Mark this budget and every enclosing one that has run out too."""
        budget: Optional[Budget] = self
        while budget is not None:
            if budget is self or budget.expired():
                budget.exceeded = True
            budget = budget.parent

    def extend(self, seconds: float) -> None:
        """Grant more time (a request found to carry more work than one object)."""
        self.seconds += seconds
        self.deadline += seconds

    def cancel(self) -> None:
        """Stop the work from another thread (at its next check or inside a library loop)."""
        self.cancelled = True
        _watchdog.wake()


_current: contextvars.ContextVar[Optional[Budget]] = contextvars.ContextVar("planerix_budget", default=None)


def current() -> Optional[Budget]:
    return _current.get()


def check() -> None:
    """Raise ``BudgetExceeded`` if the current budget has run out (cheap: call it in loops)."""
    budget = _current.get()
    if budget is not None and budget.expired():
        budget.trip()
        raise BudgetExceeded(budget.reason)


@contextlib.contextmanager
def limited(seconds: float, what: str, budget: Optional[Budget] = None) -> Iterator[Budget]:
    """Run the block under a budget of ``seconds`` (or the given, possibly cancellable, one)."""
    parent = _current.get()
    if budget is None:
        budget = Budget(seconds, what, parent)
    token = _current.set(budget)
    thread_id = threading.get_ident()
    previous = _watchdog.arm(thread_id, budget)
    try:
        yield budget
    except BudgetExceeded:
        if not budget.expired():  # an inner budget's, which has said why
            raise
        budget.trip()
        raise BudgetExceeded(budget.reason) from None
    finally:
        _watchdog.disarm(thread_id, previous)
        _current.reset(token)


class _Interrupted(BudgetExceeded):
    """Raised by the watchdog inside a library loop (constructed without arguments)."""


class _Watchdog:
    """One daemon thread per process, started on first use."""

    def __init__(self) -> None:
        self._armed: dict[int, Budget] = {}
        self._fired: set[int] = set()
        self._condition = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        # When the thread's wait ends by itself (-inf while it is not waiting: it looks at every
        # budget before it waits again). A budget ending later needs no wake-up: waking the
        # thread on every request would hand it the GIL in the middle of the request's work.
        self._waiting_until = -math.inf

    def arm(self, thread_id: int, budget: Budget) -> Optional[Budget]:
        with self._condition:
            previous = self._armed.get(thread_id)
            self._armed[thread_id] = budget
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="planerix-budget", daemon=True)
                self._thread.start()
            if budget.deadline < self._waiting_until:
                self._condition.notify()
            return previous

    def disarm(self, thread_id: int, previous: Optional[Budget]) -> None:
        # The watchdog may interrupt right here, before the lock is taken: retry until disarmed.
        while True:
            try:
                with self._condition:
                    if previous is None:
                        self._armed.pop(thread_id, None)
                    else:
                        self._armed[thread_id] = previous
                    if thread_id in self._fired:
                        self._fired.discard(thread_id)
                        # Withdraw an interruption not delivered yet (the work finished first).
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
                return
            except _Interrupted:
                continue

    def wake(self) -> None:
        with self._condition:
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                waiting = [b.deadline - now for t, b in self._armed.items() if t not in self._fired]
                timeout = max(0.0, min(waiting)) if waiting else None
                if timeout is None or timeout > 0:
                    # Cancellations wake us early; an overdue thread outside the libraries is retried.
                    self._waiting_until = math.inf if timeout is None else now + timeout
                    self._condition.wait(None if timeout is None else timeout)
                    self._waiting_until = -math.inf
                overdue = [(t, b) for t, b in self._armed.items() if t not in self._fired and b.expired()]
                frames = sys._current_frames() if overdue else {}
                retry = False
                for thread_id, budget in overdue:
                    frame = frames.get(thread_id)
                    if frame is None or not frame.f_code.co_filename.startswith(INTERRUPTIBLE):
                        retry = True  # it will meet check() or enter a library loop soon
                        continue
                    budget.trip()
                    self._fired.add(thread_id)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                               ctypes.py_object(_Interrupted))
            if retry:
                time.sleep(_RETRY_SECONDS)


_watchdog = _Watchdog()
