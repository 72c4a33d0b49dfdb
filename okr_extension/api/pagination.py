"""Keyset (cursor) pagination: stable under inserts, no OFFSET scans.

A cursor is the sort key and id of the last row of a page, opaque to clients."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime

import sqlalchemy as sa

from okr_extension.api.problems import Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _encode_value(value):
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value):
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "d" in value:
        return date.fromisoformat(value["d"])
    return value


def encode_cursor(sort: str, key, row_id: uuid.UUID | int) -> str:
    raw = json.dumps([sort, _encode_value(key), row_id if isinstance(row_id, int) else str(row_id)],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_of_cursor, key, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if sort_of_cursor != sort or not isinstance(key, (str, int, float, dict)) or "\x00" in str(key):
            raise ValueError
        if not isinstance(row_id, (int, str)) or isinstance(row_id, bool):
            raise ValueError
        return _decode_value(key), row_id if isinstance(row_id, int) else uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise _invalid_cursor() from None


def _invalid_cursor() -> Problem:
    return Problem(422, "invalid cursor: pass the next_cursor of the previous page unchanged, with the same sort")


def _fits(value, column: sa.ColumnElement) -> bool:
    """Whether a decoded cursor value has the column's type (a forged cursor must not reach SQL)."""
    if value is None:
        return True
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return True
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is date:
        return isinstance(value, date) and not isinstance(value, datetime)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def page_query(query: sa.Select, key: sa.ColumnElement, id_column: sa.ColumnElement,
               sort: str, descending: bool, cursor: str | None, limit: int) -> sa.Select:
    """``query`` ordered by (key, id), after the cursor, one row more than the page to detect
    whether another page follows."""
    if cursor:
        after_key, after_id = decode_cursor(cursor, sort)
        if not (_fits(after_key, key) and _fits(after_id, id_column)):
            raise _invalid_cursor()
        position = sa.tuple_(key, id_column)
        bound = sa.tuple_(sa.literal(after_key, type_=key.type), sa.literal(after_id, type_=id_column.type))
        query = query.where(position < bound if descending else position > bound)
    order = (key.desc(), id_column.desc()) if descending else (key.asc(), id_column.asc())
    return query.order_by(*order).limit(limit + 1)


def split_page(rows: list, limit: int, sort: str, key_of, id_field: str = "id") -> tuple[list, str | None]:
    """The page and the cursor of the next one (None on the last page)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(sort, key_of(last), getattr(last, id_field))
