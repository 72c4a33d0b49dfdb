"""The budget watchdog (storage_plugin.bounds.budget) is woken only when a new budget ends
before the one it waits for; a short budget armed while a long one is waited for still ends
its work on time."""
from __future__ import annotations

import threading
import time

import pytest
from dateutil import rrule

from storage_plugin.bounds import budget
from waiting import wait_until


def _endless_expansion() -> None:
    """Work inside dateutil (where the watchdog may interrupt) that would run for hours."""
    for _ in rrule.rrule(rrule.SECONDLY, dtstart=rrule.datetime.datetime(2000, 1, 1)):
        pass


def test_a_short_budget_armed_during_a_long_wait_is_enforced():
    long_armed, release = threading.Event(), threading.Event()

    def long_request() -> None:
        with budget.limited(120, "a long request"):
            long_armed.set()
            release.wait(30)

    other = threading.Thread(target=long_request)
    other.start()
    try:
        assert long_armed.wait(10)
        # Until the watchdog waits for the long budget's end (not for a shorter one, not busy).
        wait_until(lambda: budget._watchdog._waiting_until >= time.monotonic() + 60, timeout=10,
                   what="the watchdog to wait for the long budget")
        started = time.monotonic()
        with pytest.raises(budget.BudgetExceeded):
            with budget.limited(0.3, "a short request"):
                _endless_expansion()
        assert time.monotonic() - started < 10  # not the 120 s of the other budget
    finally:
        release.set()
        other.join(10)
