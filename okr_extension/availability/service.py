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


def _address(value: str) -> Optional[str]:
    """The mailto: address a requested value names, or None when it is no email."""
    if value[:7].lower() == "mailto:":
        return value
    return "mailto:" + value if "@" in value and "/" not in value else None


def accounts_named(conn: sa.Connection, values: list[str]) -> dict[str, Optional[str]]:
    """The account each user name, email, mailto: address or principal URL names (if any); the
    addresses are looked up together, in one statement however many are asked about."""
    addresses = {value: _address(value.strip()) for value in values}
    wanted = {directory.normalise_address(a) for a in addresses.values() if a} - {None}
    owners = dict(conn.execute(sa.select(directory.account_address.c.address, directory.account_address.c.account)
                               .where(directory.account_address.c.address.in_(wanted))).all()) if wanted else {}
    found = {}
    for value, address in addresses.items():
        value = value.strip()
        if address is not None:
            found[value] = owners.get(directory.normalise_address(address))
        elif value.startswith("/") or "://" in value:
            path = unquote(urlsplit(value).path).strip("/")
            found[value] = path if path and "/" not in path else None
        else:
            found[value] = value or None
    return found


def free_busy(conn: sa.Connection, viewer: str, requested: list[str], start: int, end: int,
              mask_uid: Optional[str] = None) -> dict[str, Optional[list[logic.Period]]]:
    """For each requested name or address: its merged periods over ``[start, end)``, or None when
    it is no account the viewer may see (unknown and invisible look the same)."""
    logic.check_window(start, end)
    named = accounts_named(conn, requested)
    accounts = {value: named[value.strip()] for value in requested}
    visible = access.visible_accounts(conn, viewer, [a for a in accounts.values() if a])
    periods = freebusy.busy_periods(conn, [a for a in accounts.values() if a in visible], start, end, mask_uid)
    return {value: periods[account] if account in visible else None for value, account in accounts.items()}


# Stored with storage_plugin.freebusy (also the schedule inbox's calendar-availability property).
availability_of = freebusy.availability_of
set_availability = freebusy.set_availability
