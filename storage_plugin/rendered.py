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
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

# Members per statement of a multiget: its ids are one bound array.
BATCH = 1000


class Rendered(NamedTuple):
    """Members' responses, and how many VEVENT lines their texts may hold (each counted once
    per text slot of the template): what Radicale's ``max_expand_occurrence`` is checked on."""
    body: bytes
    vevents: int


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
    # The member's own columns, by an index lookup (a join could scan every user's items instead).
    return _driver_sql(
        f"SELECT true AS exact, i.vevent_bound, {_response(slots, 'i')} AS response"
        " FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS w(id, n)"
        " CROSS JOIN LATERAL (SELECT href, etag, text, text_xml, vevent_bound FROM item WHERE id = w.id) AS i"
        " ORDER BY w.n")


@functools.lru_cache(maxsize=32)
def selection_statement(selection: str, slots: tuple[str, ...]) -> str:
    """The driver's SQL for the rows ``selection`` selects (SQL with ``queries.RENDERED_COLUMNS``
    and ``exact``), in href order: (exact, vevent_bound, response). One pass: each response
    is filled from the item row the selection read."""
    return _driver_sql(f"SELECT s.exact, s.vevent_bound, {_response(slots, 's')} AS response"
                       f" FROM ({selection}) AS s ORDER BY s.href")


def render_selection(conn: Connection, statement: str, values: dict, slots: Sequence[str]) -> Optional[Rendered]:
    """The rows of ``statement`` (``values`` holding ``literals``) as one ``Rendered``, or None
    when a row is not exact (it must be tested in Python)."""
    with conn.connection.dbapi_connection.cursor(binary=True) as cursor:
        rows = cursor.execute(statement, values).fetchall()
    if not all(exact for exact, _, _ in rows):
        return None
    copies = list(slots).count("t")
    return Rendered(b"".join([response for _, _, response in rows]),
                    copies * sum(bound for _, bound, _ in rows))


def literals(parts: Sequence[str]) -> dict[str, str]:
    return {f"p{n}": part for n, part in enumerate(parts)}


def render(conn: Connection, parts: Sequence[str], slots: Sequence[str], ids: Sequence[int]) -> list[Rendered]:
    """The responses of the items ``ids``, in that order, a batch at a time.
    ``parts`` are the template's literal text around its ``slots`` (one more part than slots)."""
    assert len(parts) == len(slots) + 1 and set(slots) <= set(SLOTS)
    statement, values = _members_statement(tuple(slots)), literals(parts)
    return [render_selection(conn, statement, {**values, "ids": list(ids[start:start + BATCH])}, slots)
            for start in range(0, len(ids), BATCH)]
