"""The logic behind both free-busy forms (REST here, the CalDAV outbox in server/scheduling):
which account a requested name or address means, whether the caller may see it, and its
periods from the occurrence index. Synchronous: the sidecar runs it with ``conn.run_sync``."""
from __future__ import annotations

from typing import Optional
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from okr_extension import access
from scheduling import freebusy as logic
from storage_plugin import directory, freebusy


def account_named(conn: sa.Connection, value: str) -> Optional[str]:
    """The account a user name, an email, a mailto: address or a principal URL names (if any)."""
    value = value.strip()
    if value[:7].lower() == "mailto:" or ("@" in value and "/" not in value):
        address = value if value[:7].lower() == "mailto:" else "mailto:" + value
        return directory.account_for_address(conn, address)
    if value.startswith("/") or "://" in value:
        path = unquote(urlsplit(value).path).strip("/")
        return path if path and "/" not in path else None
    return value or None


def free_busy(conn: sa.Connection, viewer: str, requested: list[str], start: int, end: int,
              mask_uid: Optional[str] = None) -> dict[str, Optional[list[logic.Period]]]:
    """For each requested name or address: its merged periods over ``[start, end)``, or None when
    it is no account the viewer may see (unknown and invisible look the same)."""
    logic.check_window(start, end)
    accounts = {value: account_named(conn, value) for value in requested}
    visible = access.visible_accounts(conn, viewer, [a for a in accounts.values() if a])
    periods = freebusy.busy_periods(conn, [a for a in accounts.values() if a in visible], start, end, mask_uid)
    return {value: periods[account] if account in visible else None for value, account in accounts.items()}


# Stored with storage_plugin.freebusy (also the schedule inbox's calendar-availability property).
availability_of = freebusy.availability_of
set_availability = freebusy.set_availability
