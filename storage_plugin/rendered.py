"""Members' responses of a multistatus written by PostgreSQL, from a template.

A REPORT that returns calendar data spends most of its time copying stored texts: reading
each into Python, escaping it for XML and formatting it into its response. Here the
database does that copy: the response template (``server.fast_listing._Template``, cut
from Radicale's own rendering) comes as literal parts, bound as parameters, with slots for
the member's href (percent-encoded as ``urllib.parse.quote`` does), ETag and text (both
escaped as ElementTree escapes character data), and each member's response comes as one
row, in PostgreSQL's binary format: the UTF-8 bytes that go to the client, never decoded
into Python strings. The item's escaped text and its VEVENT bound are kept by PostgreSQL
at every write (generated columns of migration 0021), so a query scans no text.

Each member's response is kept per process by the template and the item's row version
(``RESPONSES``): a calendar-query asked again after a change (an event edited, the calendar
renamed) reads which members it selects, with their versions, and copies only the responses
of members new or changed since; the rest come from memory. Consecutive members' responses are
also kept joined, as groups of about 64 (``GROUPS``, ``Group``), by their ids and versions:
after a rename every group is as it was, after an edit one is joined again, and
``server.compression`` keeps each group's deflated form by the same key.
"""
from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple, Optional, Sequence

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from storage_plugin.kept import Kept
from storage_plugin.queries import row_version

# Members per statement of a multiget: its ids are one bound array.
BATCH = 1000


class Rendered(NamedTuple):
    """Members' responses (one or more chunks, in order), and how many VEVENT lines their texts
    may hold (each counted once per text slot of the template): what Radicale's
    ``max_expand_occurrence`` is checked on."""
    chunks: list[bytes]
    vevents: int


class Group(bytes):
    """Consecutive members' responses joined, with the key that names these bytes (template,
    calendar, the members' ids and row versions): ``server.compression`` keeps the group's
    deflated form under it."""
    key: tuple


def _xml_escaped(column: str) -> str:
    return f"replace(replace(replace({column}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


# quote(href) with its default safe "/": every other character but ASCII letters, digits and
# "_.-~" becomes %XX per UTF-8 byte (upper-case hex). Its output needs no XML escaping.
_QUOTED_HREF = (
    "CASE WHEN {a}.href ~ '^[A-Za-z0-9_.~/-]*$' THEN {a}.href ELSE ("
    "  SELECT string_agg(CASE WHEN ch ~ '^[A-Za-z0-9_.~/-]$' THEN ch"
    "         ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\\1', 'g')) END,"
    "         '' ORDER BY n)"
    "  FROM regexp_split_to_table({a}.href, '') WITH ORDINALITY AS chars(ch, n)) END")
# Each filled from the row ``{a}`` (href, etag, text, text_xml). text_xml is NULL for a text
# with nothing to escape.
SLOTS = {"h": _QUOTED_HREF, "e": _xml_escaped("{a}.etag"), "t": "COALESCE({a}.text_xml, {a}.text)"}


def _response(slots: tuple[str, ...], alias: str) -> str:
    """A member's response as UTF-8: the literal parts ``:p0``, ``:p1``, ... ``:pN`` around
    ``slots``, filled from the row ``alias``."""
    pieces = ["CAST(:p0 AS text)"]
    for n, slot in enumerate(slots, start=1):
        pieces += [SLOTS[slot].replace("{a}", alias), f"CAST(:p{n} AS text)"]
    # (concat() would convert each argument through its output function)
    return f"convert_to({' || '.join(pieces)}, 'UTF8')"


def _driver_sql(statement: str) -> str:
    """``statement`` (SQLAlchemy's ``:name`` parameters) as psycopg takes it."""
    return str(text(statement).compile(dialect=postgresql.psycopg.dialect()))


@functools.lru_cache(maxsize=32)
def _members_statement(slots: tuple[str, ...]) -> str:
    """(id, version, vevent_bound, response) of the items ``:ids``, in that order (a deleted one
    is left out). The member's own columns, by an index lookup (a join could scan every user's
    items instead)."""
    return _driver_sql(
        f"SELECT i.id, i.version, i.vevent_bound, {_response(slots, 'i')} AS response"
        " FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS w(id, n)"
        " CROSS JOIN LATERAL (SELECT id, href, etag, text, text_xml, vevent_bound,"
        f"   {row_version('item')} AS version FROM item WHERE id = w.id) AS i"
        " ORDER BY w.n")


# Members' responses by (template, collection, item id, row version); bounded by their bytes.
RESPONSES: Kept[bytes] = Kept(64 * 1024 * 1024, len)


def template_key(parts: Sequence[str], slots: Sequence[str]) -> bytes:
    return hashlib.blake2b("\x00".join([*parts, "|", *slots]).encode(), digest_size=16).digest()


# Kept groups, bounded by their bytes.
GROUPS: Kept[Group] = Kept(64 * 1024 * 1024, len)
# A member ends its group where its id hashes to 0 modulo GROUP_SPAN (about 64 members, some
# 64 KB): where groups end depends on the members, not on their positions, so a member added or
# removed changes its own group only. No group has more than MAX_GROUP members.
GROUP_SPAN, MAX_GROUP = 64, 256


def _group_spans(selected: Sequence) -> list[tuple[int, int]]:
    spans, first = [], 0
    for n, member in enumerate(selected):
        if (member.id * 2654435761) & 0xFFFFFFFF < (1 << 32) // GROUP_SPAN or n + 1 - first >= MAX_GROUP:
            spans.append((first, n + 1))
            first = n + 1
    if first < len(selected):
        spans.append((first, len(selected)))
    return spans


def render_members(conn: Connection, selected: Sequence, parts: Sequence[str], slots: Sequence[str],
                   collection_id: int) -> Optional[Rendered]:
    """The responses of the ``selected`` members (``storage_plugin.selections.Member``), in
    that order, as groups (``Group``), or None when one vanished since it was selected. Groups
    and responses kept for the members' versions are reused; the other responses are written by
    the database and kept."""
    template = template_key(parts, slots)
    spans = _group_spans(selected)
    keys = [(template, collection_id, tuple(member.id for member in selected[a:b]),
             tuple(member.version for member in selected[a:b])) for a, b in spans]
    groups: list[Optional[Group]] = GROUPS.get_many(keys)
    bounds = [member.vevent_bound for member in selected]
    missing_groups = [n for n, group in enumerate(groups) if group is None]
    if missing_groups:
        wanted = [i for n in missing_groups for i in range(*spans[n])]
        responses = RESPONSES.get_many([(template, collection_id, selected[i].id, selected[i].version)
                                        for i in wanted])
        missing = [selected[i].id for i, response in zip(wanted, responses) if response is None]
        written: dict[int, tuple] = {}
        for start in range(0, len(missing), BATCH):
            for id, version, bound, response in _render_ids(conn, parts, slots, missing[start:start + BATCH]):
                written[id] = (response, bound, version)
                RESPONSES.put((template, collection_id, id, version), response)
        if len(written) < len(missing):
            return None  # deleted since it was selected: Radicale's code answers from a fresh read
        response_of = dict(zip(wanted, responses))
        for n in missing_groups:
            a, b = spans[n]
            # A member written again since it was selected comes as it is now, as in one later
            # read; its group's bytes are then not those its key names, so it is not kept.
            as_selected = True
            pieces = []
            for i in range(a, b):
                response = response_of[i]
                if response is None:
                    response, bounds[i], version = written[selected[i].id]
                    as_selected = as_selected and version == selected[i].version
                pieces.append(response)
            group = groups[n] = Group(b"".join(pieces))
            if as_selected:
                group.key = keys[n]
                GROUPS.put(keys[n], group)
    return Rendered(groups, list(slots).count("t") * sum(bounds))


def _render_ids(conn: Connection, parts: Sequence[str], slots: Sequence[str], ids: Sequence[int]) -> list:
    with conn.connection.dbapi_connection.cursor(binary=True) as cursor:
        return cursor.execute(_members_statement(tuple(slots)), {**literals(parts), "ids": list(ids)}).fetchall()


def literals(parts: Sequence[str]) -> dict[str, str]:
    return {f"p{n}": part for n, part in enumerate(parts)}


def render(conn: Connection, parts: Sequence[str], slots: Sequence[str], ids: Sequence[int]) -> list[Rendered]:
    """The responses of the items ``ids``, in that order, a batch at a time (a deleted one is left
    out). ``parts`` are the template's literal text around its ``slots`` (one more part than slots)."""
    assert len(parts) == len(slots) + 1 and set(slots) <= set(SLOTS)
    copies = list(slots).count("t")
    batches = []
    for start in range(0, len(ids), BATCH):
        rows = _render_ids(conn, parts, slots, ids[start:start + BATCH])
        batches.append(Rendered([b"".join(response for _, _, _, response in rows)],
                                copies * sum(bound for _, _, bound, _ in rows)))
    return batches
