"""Free-busy time of accounts, read from the occurrence index only (no item is parsed), and
the working hours (VAVAILABILITY) they stored.

The CalDAV outbox and the sidecar's REST API (``okr_extension.availability``) both answer from
``busy_periods``: two statements in the common case (the accounts' calendars and working hours,
then what changed since this process last read them, ``storage_plugin.busy_time``), and one
merge per account (``scheduling.freebusy.merge``).

Which calendars count: every calendar of the account's home except those whose
``C:schedule-calendar-transp`` is ``transparent`` (RFC 6638 §9.1; opaque when unset) and the
scheduling inbox and outbox (``collection.kind``). Which occurrences: those whose stored free-busy type is not free
(``item_occurrence.fbtype``, set at write time by ``fbtype_classifier``).
"""
from __future__ import annotations

import logging
from itertools import chain
from typing import Callable, Iterable, Mapping, Optional
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from scheduling import freebusy as logic
from storage_plugin import busy_time, directory
from storage_plugin.accounts import metadata
from storage_plugin.bounds import ical_scan
from storage_plugin.kept import Kept

logger = logging.getLogger("planerix.freebusy")
TRANSP_PROP = "C:schedule-calendar-transp"

# Per account: its working hours (and their row version), and the calendars whose busy time
# counts, with their revisions (every item written, moved or deleted, and every PROPPATCH,
# gives a calendar a new one) and history floors. The home's calendars are found by
# ``parent_path`` (an index lookup, never a scan of every collection).
_ACCOUNTS = sa.text(
    "SELECT a.name AS account, av.ical, CAST(av.xmin AS text) AS hours_version,"
    " cal.ids, cal.revisions, cal.floors"
    " FROM unnest(CAST(:accounts AS text[])) AS a(name)"
    " LEFT JOIN account_availability av ON av.account = a.name"
    " CROSS JOIN LATERAL (SELECT array_agg(c.id ORDER BY c.id) AS ids,"
    "   array_agg(c.revision ORDER BY c.id) AS revisions, array_agg(c.history_floor ORDER BY c.id) AS floors"
    "  FROM collection c WHERE c.parent_path = a.name AND c.tag = 'VCALENDAR' AND c.kind = 'normal'"
    "   AND coalesce(c.props->>'" + TRANSP_PROP + "', 'opaque') <> 'transparent') AS cal").bindparams(
    sa.bindparam("accounts", type_=ARRAY(sa.Text)))

account_availability = sa.Table(
    "account_availability", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("ical", sa.Text, nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


# -- statements ------------------------------------------------------------------------------
def select_accounts(accounts: Iterable[str]):
    """Rows (account, ical, hours_version, ids, revisions, floors) of ``accounts``: working hours
    (or None) and the calendars that count (arrays, or None for none)."""
    return _ACCOUNTS.bindparams(accounts=list(accounts))


def upsert_availability(account: str, ical: str):
    from sqlalchemy.dialects.postgresql import insert

    statement = insert(account_availability).values(account=account, ical=ical, updated=sa.func.now())
    return statement.on_conflict_do_update(index_elements=[account_availability.c.account],
                                           set_={"ical": statement.excluded.ical, "updated": sa.func.now()})


def delete_availability(account: str):
    return sa.delete(account_availability).where(account_availability.c.account == account)


# -- working hours ---------------------------------------------------------------------------
# A working-hours calendar is small: bounded before anything parses it.
MAX_AVAILABILITY_BYTES = 64 * 1024
_AVAILABILITY_LIMITS = ical_scan.TextLimits(max_lines=2000, max_folded_lines=100, max_count=10000)


def availability_of(conn: sa.Connection, account: str) -> Optional[str]:
    return conn.execute(sa.select(account_availability.c.ical).where(
        account_availability.c.account == account)).scalar()


def set_availability(conn: sa.Connection, account: str, text: Optional[str]) -> None:
    """Store (or with None, remove) an account's VAVAILABILITY; FreeBusyError if it is unusable.
    The REST API (/api/availability) and the inbox's calendar-availability property use it."""
    if text is None:
        conn.execute(delete_availability(account))
        return
    if len(text.encode("utf-8")) > MAX_AVAILABILITY_BYTES:
        raise logic.FreeBusyError(f"a VAVAILABILITY has at most {MAX_AVAILABILITY_BYTES} bytes")
    try:
        ical_scan.check_text(text, _AVAILABILITY_LIMITS)
    except ical_scan.TextRefused as e:
        raise logic.FreeBusyError(str(e)) from None
    logic.check_availability(text)
    conn.execute(upsert_availability(account, text))


# -- from rows to periods ------------------------------------------------------------------------
def unavailable_time(availability: Mapping[str, str], start: int, end: int) -> list[tuple[str, logic.Period]]:
    """(account, period) for the time outside each account's stored working hours."""
    pairs = []
    for name, text in availability.items():
        try:
            pairs += [(name, period) for period in logic.unavailable_periods(text, start, end)]
        except logic.FreeBusyError as e:  # checked when stored; never fail everyone's answer
            logger.warning("working hours of %r ignored: %s", name, e)
    return pairs


def busy_periods(conn: sa.Connection, accounts: Iterable[str], start: int, end: int,
                 mask_uid: Optional[str] = None) -> dict[str, list[logic.Period]]:
    """Free-busy of ``accounts`` over ``[start, end)`` (POSIX seconds), merged and clipped,
    from the occurrence index (``busy_time``: each calendar's busy occurrences, kept and brought
    up to date) and the stored working hours (time outside them is BUSY-UNAVAILABLE). Accounts
    none of whose calendars and working hours changed since this process last answered for the
    same window are answered from ``ANSWERS`` (without a mask)."""
    found: dict[str, list[logic.Period]] = {name: [] for name in accounts}
    if not found:
        return found
    availability, calendars, keys = {}, {}, {}
    for row in conn.execute(select_accounts(found)):
        if row.ical is not None:
            availability[row.account] = row.ical
        calendars[row.account] = [busy_time.Calendar(id, revision, floor) for id, revision, floor
                                  in zip(row.ids or (), row.revisions or (), row.floors or ())]
        keys[row.account] = (row.account, start, end, row.hours_version,
                             tuple((c.id, c.revision) for c in calendars[row.account]))
    missing = []
    for name in found:
        kept = ANSWERS.get(keys[name]) if mask_uid is None else None
        if kept is None:
            missing.append(name)
        else:
            found[name] = list(kept)
    if not missing:
        return found
    busy = busy_time.busy_of(conn, [c for name in missing for c in calendars[name]], start, end, mask_uid)
    unavailable: dict[str, list[logic.Period]] = {}
    for name, period in unavailable_time({name: availability[name] for name in missing if name in availability},
                                         start, end):
        unavailable.setdefault(name, []).append(period)
    for name in missing:
        busy_calendars = [busy[c.id] for c in calendars[name] if busy[c.id].ordered]
        if len(busy_calendars) == 1 and name not in unavailable:  # merged already, as it is kept
            found[name] = list(busy_calendars[0].merged)
        else:
            periods = chain.from_iterable(calendar.ordered for calendar in busy_calendars)
            found[name] = logic.merge(chain(periods, unavailable.get(name, ())), start, end)
        if mask_uid is None:
            ANSWERS.put(keys[name], list(found[name]))
    return found


# The merged periods of the accounts and windows answered last, by the revisions of the
# calendars and working hours they were merged from: an unchanged account asked about again (a
# scheduling assistant re-asking as its user adds attendees, an agenda refreshing) costs no
# merge. Per process and keyed by database state, so every process and worker answers what a
# fresh read would. Bounded by the periods kept (a few tens of MB at most); an answer's key (its
# calendars and their revisions) weighs about as much as eight periods.
ANSWERS: Kept[list[logic.Period]] = Kept(200_000, lambda periods: 8 + len(periods))


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
