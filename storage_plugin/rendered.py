"""Members' responses of a multistatus written by PostgreSQL, from a template.

A REPORT that returns calendar data spends most of its time copying stored texts: reading
each into Python, escaping it for XML and formatting it into its response. Here the
database does that copy: the response template (``server.fast_listing._Template``, cut
from Radicale's own rendering) comes as literal parts, bound as parameters, with slots for
the member's href (percent-encoded as ``urllib.parse.quote`` does), ETag and text (both
escaped as ElementTree escapes character data), and one statement returns a batch of
responses as one UTF-8 string, in the order of the ids given.
"""
from __future__ import annotations

import functools
from typing import Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Members per statement: one answer holds them all, well below PostgreSQL's 1 GB per value.
BATCH = 1000


def _xml_escaped(column: str) -> str:
    return f"replace(replace(replace({column}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


# quote(href) with its default safe "/": every other character but ASCII letters, digits and
# "_.-~" becomes %XX per UTF-8 byte (upper-case hex). Its output needs no XML escaping.
_QUOTED_HREF = (
    "CASE WHEN i.href ~ '^[A-Za-z0-9_.~/-]*$' THEN i.href ELSE ("
    "  SELECT string_agg(CASE WHEN ch ~ '^[A-Za-z0-9_.~/-]$' THEN ch"
    "         ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\\1', 'g')) END,"
    "         '' ORDER BY n)"
    "  FROM regexp_split_to_table(i.href, '') WITH ORDINALITY AS chars(ch, n)) END")
SLOTS = {"h": _QUOTED_HREF, "e": _xml_escaped("i.etag"), "t": _xml_escaped("i.text")}


def _response(slots: tuple[str, ...]) -> str:
    """A member's response: the literal parts ``:p0``, ``:p1``, ... ``:pN`` around ``slots``,
    filled from ``i`` (href, etag, text)."""
    pieces = ["CAST(:p0 AS text)"]
    for n, slot in enumerate(slots, start=1):
        pieces += [SLOTS[slot], f"CAST(:p{n} AS text)"]
    return " || ".join(pieces)  # (concat() converts each argument through its output function)


# The member's own columns, by an index lookup (a join could scan every user's items instead).
_MEMBER = "CROSS JOIN LATERAL (SELECT href, etag, text FROM item WHERE id = {id}) AS i"


@functools.lru_cache(maxsize=32)
def _statement(slots: tuple[str, ...]):
    return text(
        f"SELECT string_agg({_response(slots)}, '' ORDER BY w.n)"
        f" FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS w(id, n) {_MEMBER.format(id='w.id')}")


@functools.lru_cache(maxsize=32)
def selection_statement(selection: str, slots: tuple[str, ...]):
    """The responses of the rows ``selection`` (SQL with columns id, href and exact) selects,
    in href order, as ``rendered`` (NULL for none); or ``undecided`` and nothing rendered when
    a row is not exact (it must be tested in Python)."""
    return text(
        f"WITH selected AS MATERIALIZED ({selection})"
        " SELECT EXISTS (SELECT 1 FROM selected WHERE NOT exact) AS undecided,"
        f" (SELECT string_agg({_response(slots)}, '' ORDER BY s.href)"
        f"  FROM selected s {_MEMBER.format(id='s.id')}"
        "  WHERE NOT EXISTS (SELECT 1 FROM selected WHERE NOT exact)) AS rendered")


def literals(parts: Sequence[str]) -> dict[str, str]:
    return {f"p{n}": part for n, part in enumerate(parts)}


def render(conn: Connection, parts: Sequence[str], slots: Sequence[str], ids: Sequence[int],
           encoding: str = "utf-8") -> Iterator[bytes]:
    """The responses of the items ``ids``, in that order, encoded, a batch at a time.
    ``parts`` are the template's literal text around its ``slots`` (one more part than slots)."""
    assert len(parts) == len(slots) + 1 and set(slots) <= set(SLOTS)
    statement, values = _statement(tuple(slots)), literals(parts)
    for start in range(0, len(ids), BATCH):
        batch = list(ids[start:start + BATCH])
        rendered = conn.execute(statement, {**values, "ids": batch}).scalar()
        if rendered:
            yield rendered.encode(encoding, "xmlcharrefreplace")
