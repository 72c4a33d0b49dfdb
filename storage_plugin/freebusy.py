"""Free-busy time of accounts, read from the occurrence index only (no item is parsed), and
the working hours (VAVAILABILITY) they stored.

Statements are SQLAlchemy Core with bound values, so the CalDAV outbox (synchronous) and the
sidecar's REST API (asynchronous) run the very same queries, which answer merged periods.

Which calendars count: every calendar of the account's home except those whose
``C:schedule-calendar-transp`` is ``transparent`` (RFC 6638 §9.1; opaque when unset) and the
scheduling inbox and outbox (``collection.kind``). Which occurrences: those whose stored free-busy type is not free
(``item_occurrence.fbtype``, set at write time by ``fbtype_classifier``).
"""
from __future__ import annotations

import logging
from itertools import repeat
from typing import Callable, Iterable, Mapping, Optional
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from scheduling import freebusy as logic
from storage_plugin import directory
from storage_plugin.accounts import metadata
from storage_plugin.bounds import ical_scan
from storage_plugin.kept import Kept

logger = logging.getLogger("planerix.freebusy")
TRANSP_PROP = "C:schedule-calendar-transp"

# The whole answer is computed by PostgreSQL in one statement for all accounts: per account and
# type, the union of the spans (range_agg merges overlapping and touching ones), then the types
# layered by strength with multirange differences (BUSY over BUSY-UNAVAILABLE over
# BUSY-TENTATIVE, as logic.merge does), each span clipped to the window first (cheaper than
# clipping the multiranges). Python only groups the rows:
# the cost of asking about many accounts is their index scans, not objects per occurrence.
# ``extra`` periods (the working hours' unavailable time, expanded and clipped in Python) join
# the busy ones. The home's calendars are found by ``parent_path`` (an index lookup, never a
# scan of every collection); a layer that is empty (most accounts have no working hours, few
# tentative events) costs no multirange difference; the rows come unsorted (busy_periods sorts
# each account's few periods, cheaper than one sort of all accounts' rows in the statement).
_BUSY = (
    "WITH busy AS ("
    "  SELECT a.name AS account, CAST(o.fbtype AS text) AS fbtype, o.span * int8range(:start, :end) AS span"
    "  FROM unnest(CAST(:accounts AS text[])) AS a(name)"
    "  JOIN collection c ON c.parent_path = a.name"
    "  JOIN item_occurrence o ON o.collection_id = c.id"
    "  WHERE c.tag = 'VCALENDAR' AND c.kind = 'normal'"
    "    AND coalesce(c.props->>'" + TRANSP_PROP + "', 'opaque') <> 'transparent'"
    "    AND o.fbtype <> 'F' AND NOT o.surrounds AND o.span && int8range(:start, :end)"
    "    {mask}"
    "  UNION ALL"
    "  SELECT x.account, x.fbtype, int8range(x.s, x.e) FROM unnest("
    "    CAST(:extra_accounts AS text[]), CAST(:extra_starts AS bigint[]),"
    "    CAST(:extra_ends AS bigint[]), CAST(:extra_types AS text[])) AS x(account, s, e, fbtype)),"
    " typed AS (SELECT account, fbtype, range_agg(span) AS spans FROM busy GROUP BY account, fbtype),"
    " layers AS ("
    "  SELECT account,"
    "    coalesce((array_agg(spans) FILTER (WHERE fbtype = 'B'))[1], '{{}}') AS b,"
    "    coalesce((array_agg(spans) FILTER (WHERE fbtype = 'U'))[1], '{{}}') AS u,"
    "    coalesce((array_agg(spans) FILTER (WHERE fbtype = 'T'))[1], '{{}}') AS t"
    "  FROM typed GROUP BY account),"
    " shown AS ("
    "  SELECT account, 'B' AS fbtype, b AS spans FROM layers"
    "  UNION ALL SELECT account, 'U', u - b FROM layers WHERE NOT isempty(u)"
    "  UNION ALL SELECT account, 'T', CASE WHEN isempty(u) THEN t - b ELSE t - b - u END"
    "  FROM layers WHERE NOT isempty(t))"
    # A row per account and type, its periods' bounds as two arrays: a few rows to read, not
    # one per period.
    " SELECT account, fbtype, ARRAY(SELECT lower(r) FROM unnest(spans) AS r) AS starts,"
    "  ARRAY(SELECT upper(r) FROM unnest(spans) AS r) AS ends"
    " FROM shown")
# Masking one UID (Apple's X-CALENDARSERVER-MASK-UID) reads the item of each occurrence; without
# it the occurrences' index alone answers (an index-only scan).
_MASK = ("AND NOT EXISTS (SELECT 1 FROM item i WHERE i.id = o.item_id AND i.uid = :mask_uid)")
_BUSY_TYPES = dict(accounts=ARRAY(sa.Text), start=sa.BigInteger,
                   end=sa.BigInteger, extra_accounts=ARRAY(sa.Text), extra_starts=ARRAY(sa.BigInteger),
                   extra_ends=ARRAY(sa.BigInteger), extra_types=ARRAY(sa.Text))
_SELECT_BUSY = sa.text(_BUSY.format(mask="")).bindparams(
    *[sa.bindparam(name, type_=kind) for name, kind in _BUSY_TYPES.items()])
_SELECT_BUSY_MASKED = sa.text(_BUSY.format(mask=_MASK)).bindparams(
    *[sa.bindparam(name, type_=kind) for name, kind in _BUSY_TYPES.items()],
    sa.bindparam("mask_uid", type_=sa.Text))

account_availability = sa.Table(
    "account_availability", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("ical", sa.Text, nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


# -- statements ------------------------------------------------------------------------------
def select_busy(accounts: Iterable[str], start: int, end: int, mask_uid: Optional[str] = None,
                extra: Iterable[tuple[str, logic.Period]] = ()):
    """Rows (account, fbtype, starts, ends) of the accounts' free-busy over the window: merged,
    layered by type and clipped (each type's periods in order, the types not);
    ``extra`` adds (account, period) pairs to the busy time."""
    extra = list(extra)
    values = dict(accounts=list(accounts), start=start, end=end,
                  extra_accounts=[name for name, _ in extra], extra_starts=[p[0] for _, p in extra],
                  extra_ends=[p[1] for _, p in extra], extra_types=[p[2] for _, p in extra])
    if mask_uid is None:
        return _SELECT_BUSY.bindparams(**values)
    return _SELECT_BUSY_MASKED.bindparams(**values, mask_uid=mask_uid)


# Per account: its working hours, and a fingerprint of everything its busy time is read from:
# the count and an order-free hash of each home collection's id and xmin (every item written,
# moved or deleted bumps its collection's revision, and every PROPPATCH its props, so any change
# of an occurrence, of a calendar's transparency, or of the set of calendars changes it) and the
# working hours row's xmin.
_STATES = sa.text(
    "SELECT a.name AS account, av.ical,"
    " (SELECT count(*) || ':' || coalesce(sum(hashtextextended(c.id || ':' || CAST(c.xmin AS text), 0)), 0)"
    "  FROM collection c WHERE c.parent_path = a.name) || ':' || coalesce(CAST(av.xmin AS text), '-') AS state"
    " FROM unnest(CAST(:accounts AS text[])) AS a(name)"
    " LEFT JOIN account_availability av ON av.account = a.name").bindparams(
    sa.bindparam("accounts", type_=ARRAY(sa.Text)))


def select_states(accounts: Iterable[str]):
    """Rows (account, ical, state) of ``accounts``: working hours (or None) and the fingerprint
    of their busy time."""
    return _STATES.bindparams(accounts=list(accounts))


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
    from the occurrence index and the stored working hours (time outside them is
    BUSY-UNAVAILABLE). Accounts whose busy time did not change since this process last answered
    for the same window are answered from ``ANSWERS`` (without a mask)."""
    found: dict[str, list[logic.Period]] = {name: [] for name in accounts}
    if not found:
        return found
    availability, keys = {}, {}
    for row in conn.execute(select_states(found)):
        if row.ical is not None:
            availability[row.account] = row.ical
        keys[row.account] = (row.account, row.state, start, end)
    missing = []
    for name in found:
        kept = ANSWERS.get(keys[name]) if mask_uid is None else None
        if kept is None:
            missing.append(name)
        else:
            found[name] = list(kept)
    if not missing:
        return found
    extra = unavailable_time({name: availability[name] for name in missing if name in availability}, start, end)
    for name, fbtype, starts, ends in conn.execute(select_busy(missing, start, end, mask_uid, extra)):
        found[name] += zip(starts, ends, repeat(fbtype))
    for name in missing:
        found[name].sort()
        if mask_uid is None:
            ANSWERS.put(keys[name], list(found[name]))
    return found


# The merged periods of the accounts and windows answered last, by the fingerprint of their busy
# time: an unchanged account asked about again (a scheduling assistant re-asking as its user adds
# attendees, an agenda refreshing) costs one fingerprint instead of its index scan and merge. Per
# process and keyed by database state, so every process and worker answers what a fresh read
# would. Bounded by the periods kept (a few tens of MB at most).
ANSWERS: Kept[list[logic.Period]] = Kept(200_000, len)


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
