"""Dashboard settings (environment variables, read by the launcher)."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

SECURE_COOKIES_ENV = "PLANERIX_DASHBOARD_SECURE_COOKIES"


@dataclass(frozen=True)
class DashboardSettings:
    # Set when the dashboard is reached over https (e.g. behind a TLS-terminating proxy): the
    # browser then sends the session cookie over https only.
    secure_cookies: bool = False
    session_lifetime: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def from_env(cls) -> "DashboardSettings":
        value = os.environ.get(SECURE_COOKIES_ENV, "").strip().lower()
        if value not in ("", "0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"{SECURE_COOKIES_ENV} must be 1 or 0, not {value!r}")
        return cls(secure_cookies=value in ("1", "true", "yes"))
