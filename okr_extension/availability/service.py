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
from storage_plugin.bounds import ical_scan


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


# A working-hours calendar is small: bounded before anything parses it.
MAX_AVAILABILITY_BYTES = 64 * 1024
_AVAILABILITY_LIMITS = ical_scan.TextLimits(max_lines=2000, max_folded_lines=100, max_count=10000)


def availability_of(conn: sa.Connection, account: str) -> Optional[str]:
    return conn.execute(sa.select(freebusy.account_availability.c.ical).where(
        freebusy.account_availability.c.account == account)).scalar()


def set_availability(conn: sa.Connection, account: str, text: Optional[str]) -> None:
    """Store (or with None, remove) an account's VAVAILABILITY; FreeBusyError if it is unusable."""
    if text is None:
        conn.execute(freebusy.delete_availability(account))
        return
    if len(text.encode("utf-8")) > MAX_AVAILABILITY_BYTES:
        raise logic.FreeBusyError(f"a VAVAILABILITY has at most {MAX_AVAILABILITY_BYTES} bytes")
    try:
        ical_scan.check_text(text, _AVAILABILITY_LIMITS)
    except ical_scan.TextRefused as e:
        raise logic.FreeBusyError(str(e)) from None
    logic.check_availability(text)
    conn.execute(freebusy.upsert_availability(account, text))
