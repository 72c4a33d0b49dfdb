"""Tunables of feed publishing and import, from the environment by default."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass


class SettingError(ValueError):
    """An environment variable holds a value Planerix cannot use (the message names it)."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "") or default


def _flag(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in ("1", "true", "yes", "on")


def _positive(name: str, default: str, kind: type = float):
    """A positive number from the environment; a wrong value stops the start with its name."""
    raw = _env(name, default)
    try:
        value = kind(raw.strip())
    except ValueError:
        value = 0
    if not (value > 0 and math.isfinite(value)):
        kind_name = "whole number" if kind is int else "number"
        raise SettingError(f"{name} must be a positive {kind_name}, not {raw!r}")
    return value


def allow_private_networks_from_env() -> bool:
    """PLANERIX_ALLOW_PRIVATE_NETWORKS, the one switch of every outbound request (feeds and
    webhooks); the feeds-only name is kept as an alias. The general name wins."""
    return _flag("PLANERIX_ALLOW_PRIVATE_NETWORKS", _flag("PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS", False))


@dataclass(frozen=True)
class FeedSettings:
    # Subscriptions: the background scheduler of this process.
    scheduler_enabled: bool = True
    tick_seconds: float = 30.0  # how often due subscriptions are looked for
    concurrency: int = 4  # feeds fetched at once by one process
    lease_seconds: int = 600  # a claimed feed is not fetched by another process for this long
    fetch_timeout_seconds: float = 30.0
    max_feed_bytes: int = 10 * 1024 * 1024
    # Bounded import: a feed with more lines is refused before parsing, and one import
    # (parsing, checking and storing every object) stops after this many seconds.
    max_feed_lines: int = 500_000
    import_budget_seconds: float = 120.0
    max_redirects: int = 5
    min_refresh_seconds: int = 300
    max_refresh_seconds: int = 7 * 86400
    max_backoff_seconds: int = 86400
    # Fetching loopback, private and link-local addresses is refused unless allowed
    # (a subscription URL must not reach the server's own network). PLANERIX_ALLOW_PRIVATE_NETWORKS
    # (the switch shared with webhooks) sets this.
    allow_private_networks: bool = False
    # Publishing: built feeds kept per process.
    cache_max_bytes: int = 128 * 1024 * 1024

    @classmethod
    def from_env(cls) -> "FeedSettings":
        return cls(
            scheduler_enabled=_flag("PLANERIX_FEEDS_SCHEDULER", True),
            tick_seconds=_positive("PLANERIX_FEEDS_TICK_SECONDS", "30"),
            fetch_timeout_seconds=_positive("PLANERIX_FEEDS_FETCH_TIMEOUT", "30"),
            max_feed_bytes=_positive("PLANERIX_FEEDS_MAX_BYTES", str(10 * 1024 * 1024), int),
            import_budget_seconds=_positive("PLANERIX_FEEDS_IMPORT_SECONDS", "120"),
            min_refresh_seconds=_positive("PLANERIX_FEEDS_MIN_REFRESH_SECONDS", "300", int),
            allow_private_networks=allow_private_networks_from_env(),
        )
