"""Tunables of webhook delivery, from the environment by default."""
from __future__ import annotations

from dataclasses import dataclass

from okr_extension.feeds.settings import _flag, _positive, allow_private_networks_from_env


@dataclass(frozen=True)
class AutomationSettings:
    # The delivery worker of this process (every process runs one; they share the work).
    worker_enabled: bool = True
    tick_seconds: float = 1.0       # how often due deliveries are looked for without a notification
    batch: int = 20                 # deliveries one process sends at once
    lease_seconds: int = 60         # a claimed delivery is not sent by another process for this long
    timeout_seconds: float = 10.0   # one POST, connection included
    # Retries: base * 2^(attempt-1) seconds, at most max_delay, less up to `jitter` of it at
    # random (so receivers coming back are not hit by every sender at once).
    base_delay_seconds: float = 10.0
    max_delay_seconds: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 40          # over a day of tries; then the delivery is dead (kept in the log; replayable)
    disable_after_seconds: float = 86400.0  # a webhook failing this long is disabled
    # The time-driven evaluator (deadlines, silences, overdue tasks) of this process.
    evaluator_enabled: bool = True
    sweep_seconds: float = 60.0     # how often each organisation is evaluated
    deadline_days: int = 3          # deadline.approaching this many days before a due date
    checkin_days: int = 7           # checkin.missing after this many days without a check-in
    overdue_lookback_days: int = 30  # occurrences of recurring tasks due longer ago are not reported
    # Loopback and private addresses are refused unless allowed: the one switch shared with feeds.
    allow_private_networks: bool = False

    @classmethod
    def from_env(cls) -> "AutomationSettings":
        return cls(
            worker_enabled=_flag("PLANERIX_WEBHOOKS_WORKER", True),
            tick_seconds=_positive("PLANERIX_WEBHOOKS_TICK_SECONDS", "1"),
            timeout_seconds=_positive("PLANERIX_WEBHOOKS_TIMEOUT", "10"),
            lease_seconds=_positive("PLANERIX_WEBHOOKS_LEASE_SECONDS", "60", int),
            base_delay_seconds=_positive("PLANERIX_WEBHOOKS_RETRY_SECONDS", "10"),
            max_delay_seconds=_positive("PLANERIX_WEBHOOKS_MAX_RETRY_SECONDS", "3600"),
            max_attempts=_positive("PLANERIX_WEBHOOKS_MAX_ATTEMPTS", "40", int),
            evaluator_enabled=_flag("PLANERIX_AUTOMATION_EVALUATOR", True),
            sweep_seconds=_positive("PLANERIX_AUTOMATION_SWEEP_SECONDS", "60"),
            deadline_days=_positive("PLANERIX_DEADLINE_APPROACHING_DAYS", "3", int),
            checkin_days=_positive("PLANERIX_CHECKIN_MISSING_DAYS", "7", int),
            allow_private_networks=allow_private_networks_from_env(),
        )
