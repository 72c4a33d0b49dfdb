"""Free-busy time of accounts, read from the occurrence index only (no item is parsed), and
the working hours (VAVAILABILITY) they stored.

Statements are SQLAlchemy Core with bound values, so the CalDAV outbox (synchronous) and the
sidecar's REST API (asynchronous) run the very same queries; ``periods_by_account`` turns
their rows into merged periods (``scheduling.freebusy``).

Which calendars count: every calendar of the account's home except those whose
``C:schedule-calendar-transp`` is ``transparent`` (RFC 6638 §9.1; opaque when unset) and the
scheduling inbox and outbox. Which occurrences: those whose stored free-busy type is not free
(``item_occurrence.fbtype``, set at write time by ``fbtype_classifier``).
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Mapping, Optional
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from scheduling import freebusy as logic
from storage_plugin import directory
from storage_plugin.accounts import metadata

logger = logging.getLogger("planerix.freebusy")
TRANSP_PROP = "C:schedule-calendar-transp"
# Collections of the home that hold scheduling messages, not the owner's time.
SCHEDULING_COLLECTIONS = ("schedule-inbox", "schedule-outbox")

# Overlapping and touching periods of one type are merged by PostgreSQL (range_agg), so few
# rows come back however dense the calendars; types are combined in Python (logic.merge).
_BUSY = sa.text(
    "WITH busy AS ("
    "  SELECT a.name AS account, o.fbtype, o.span * int8range(:start, :end) AS span"
    "  FROM unnest(CAST(:accounts AS text[])) AS a(name)"
    "  JOIN collection c ON starts_with(c.path, a.name || '/')"
    "  JOIN item_occurrence o ON o.collection_id = c.id"
    "  WHERE c.tag = 'VCALENDAR'"
    "    AND coalesce(c.props->>'" + TRANSP_PROP + "', 'opaque') <> 'transparent'"
    "    AND NOT (substr(c.path, length(a.name) + 2) = ANY(CAST(:scheduling AS text[])))"
    "    AND o.fbtype <> 'F' AND NOT o.surrounds AND o.span && int8range(:start, :end)"
    "    AND (CAST(:mask_uid AS text) IS NULL OR NOT EXISTS ("
    "         SELECT 1 FROM item i WHERE i.id = o.item_id AND i.uid = :mask_uid))),"
    " merged AS (SELECT account, fbtype, unnest(range_agg(span)) AS span FROM busy GROUP BY account, fbtype)"
    " SELECT account, lower(span) AS start, upper(span) AS end,"
    "        CAST(fbtype AS text) AS fbtype"  # asyncpg reads \"char\" as bytes
    " FROM merged ORDER BY 1, 2"
).bindparams(sa.bindparam("accounts", type_=ARRAY(sa.Text)),
             sa.bindparam("scheduling", type_=ARRAY(sa.Text)),
             sa.bindparam("start", type_=sa.BigInteger), sa.bindparam("end", type_=sa.BigInteger),
             sa.bindparam("mask_uid", type_=sa.Text))

account_availability = sa.Table(
    "account_availability", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("ical", sa.Text, nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


# -- statements ------------------------------------------------------------------------------
def select_busy(accounts: Iterable[str], start: int, end: int, mask_uid: Optional[str] = None):
    """Rows (account, start, end, fbtype) of the accounts' busy occurrences overlapping the window."""
    return _BUSY.bindparams(accounts=list(accounts), scheduling=list(SCHEDULING_COLLECTIONS),
                            start=start, end=end, mask_uid=mask_uid)


def select_availability(accounts: Iterable[str]):
    return sa.select(account_availability.c.account, account_availability.c.ical).where(
        account_availability.c.account.in_(list(accounts)))


def upsert_availability(account: str, ical: str):
    from sqlalchemy.dialects.postgresql import insert

    statement = insert(account_availability).values(account=account, ical=ical, updated=sa.func.now())
    return statement.on_conflict_do_update(index_elements=[account_availability.c.account],
                                           set_={"ical": statement.excluded.ical, "updated": sa.func.now()})


def delete_availability(account: str):
    return sa.delete(account_availability).where(account_availability.c.account == account)


# -- from rows to periods ------------------------------------------------------------------------
def periods_by_account(accounts: Iterable[str], busy_rows, availability: Mapping[str, str],
                       start: int, end: int) -> dict[str, list[logic.Period]]:
    """Each account's merged, clipped periods: its busy occurrences and, when it stored working
    hours, the time outside them (BUSY-UNAVAILABLE)."""
    raw: dict[str, list[logic.Period]] = {name: [] for name in accounts}
    for row in busy_rows:
        raw[row.account].append((row.start, row.end, row.fbtype))
    for name, text in availability.items():
        if name in raw:
            try:
                raw[name].extend(logic.unavailable_periods(text, start, end))
            except logic.FreeBusyError as e:  # checked when stored; never fail everyone's answer
                logger.warning("working hours of %r ignored: %s", name, e)
    return {name: logic.merge(periods, start, end) for name, periods in raw.items()}


def busy_periods(conn: sa.Connection, accounts: Iterable[str], start: int, end: int,
                 mask_uid: Optional[str] = None) -> dict[str, list[logic.Period]]:
    """Free-busy of ``accounts`` over ``[start, end)`` (POSIX seconds), merged and clipped,
    from the occurrence index and the stored working hours."""
    accounts = list(dict.fromkeys(accounts))
    rows = conn.execute(select_busy(accounts, start, end, mask_uid)).all()
    availability = {row.account: row.ical for row in conn.execute(select_availability(accounts))}
    return periods_by_account(accounts, rows, availability, start, end)


# -- at write time -------------------------------------------------------------------------------
def is_principal_of(address: str, owner: str) -> bool:
    """``/alice/`` or ``https://host/alice/``: the principal URL as a calendar-user address."""
    path = unquote(urlsplit(address.strip()).path) if "://" in address else address.strip()
    return path.strip("/") == owner and path.startswith("/")


def fbtype_classifier(owner: str, own_addresses: Callable[[], Iterable[str]]) -> Callable[[object], str]:
    """``fbtype_of(component)`` for the items of ``owner``'s calendars. ``own_addresses()`` gives
    the owner's normalised mailto: addresses; it is called once, and only when a component has
    attendees."""
    addresses: list[set[str]] = []

    def is_own(address: str) -> bool:
        if not addresses:
            addresses.append(set(own_addresses()))
        normalised = directory.normalise_address(address)
        return (normalised is not None and normalised in addresses[0]) or is_principal_of(address, owner)

    return lambda component: logic.occurrence_fbtype(component, is_own)


def select_all_addresses():
    """Every account's addresses (for checking every item's index at once)."""
    return sa.select(directory.account_address.c.account, directory.account_address.c.address)
