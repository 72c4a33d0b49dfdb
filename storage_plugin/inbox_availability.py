"""The schedule inbox's ``calendar-availability`` property (RFC 7953 §7.2.4; CalendarServer's
older ``CS:calendar-availability``, which Apple Calendar writes) is the account's working hours:
the very row /api/availability reads and writes (``freebusy.account_availability``), so the
outbox's free-busy answers honour what either way stored. Radicale sees it as a dead property
of the inbox; ``Collection.get_meta``/``set_meta`` route it here."""
from __future__ import annotations

from typing import Mapping, Optional

import sqlalchemy as sa

from scheduling import freebusy as logic
from storage_plugin import freebusy, request_state

# Radicale's names of the two forms (caldav and calendarserver.org namespaces).
PROPS = ("C:calendar-availability", "CS:calendar-availability")


def owner_of(inbox_path: str) -> str:
    return inbox_path.split("/", 1)[0]


def read(conn: sa.Connection, inbox_path: str) -> dict[str, str]:
    """The property under both names, or nothing when no working hours are stored."""
    text = freebusy.availability_of(conn, owner_of(inbox_path))
    return {} if text is None else {name: text for name in PROPS}


def chosen(props: Mapping[str, str], current: Optional[str]) -> tuple[bool, Optional[str]]:
    """(changed, new text) from the inbox's properties after a PROPPATCH, which starts from
    ``read`` (both names): a name whose value differs from ``current`` was set; a name gone was
    removed (None)."""
    values = [props.get(name) for name in PROPS]
    for value in values:
        if value is not None and value != current:
            return True, value
    if current is not None and None in values:
        return True, None
    return False, current


def write(conn: sa.Connection, inbox_path: str, props: dict[str, str]) -> None:
    """Store the property's change out of ``props`` (which loses both names); a VAVAILABILITY
    that cannot be used is refused (CALDAV:valid-calendar-data) and nothing is stored."""
    account = owner_of(inbox_path)
    changed, text = chosen(props, freebusy.availability_of(conn, account))
    for name in PROPS:
        props.pop(name, None)
    if not changed:
        return
    try:
        freebusy.set_availability(conn, account, text.strip() + "\r\n" if text else None)
    except logic.FreeBusyError as e:
        raise request_state.StorageRejection(
            400, "C:valid-calendar-data", f"calendar-availability: {e}") from None
