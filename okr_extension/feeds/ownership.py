"""Which calendar a request means, and whether the user may use it.

Feeds publish, and subscriptions fill, only the user's own calendars: a user owns the
collections under ``/<user>/`` (a calendar shared with them stays its owner's to publish). A calendar is named by its path
(``/alice/work/``) or by its path inside the user's home (``work``).
"""
from __future__ import annotations

from typing import Any

from okr_extension.feeds import queries
from okr_extension.feeds.options import ValidationError
from storage_plugin.writer import Forbidden, NotFound, calendar_path, owner_of


def own_calendar_path(user: str, given: Any, field: str = "calendar") -> str:
    if not isinstance(given, str) or not given.strip("/ "):
        raise ValidationError([{"field": field, "reason": "name a calendar: \"work\" or \"/USER/work/\""}])
    try:
        path = calendar_path(given if given.startswith("/") else f"/{user}/{given}")
    except ValueError as e:
        raise ValidationError([{"field": field, "reason": f"not a usable path: {e}"}]) from None
    if owner_of(path) != user:
        raise Forbidden(f"/{path}/ belongs to another user; you can use only your own calendars "
                        f"(under /{user}/)")
    if "/" not in path:
        raise ValidationError([{"field": field, "reason": f"/{path}/ is your home; name a calendar in it"}])
    return path


async def own_calendar(conn, user: str, given: Any, field: str = "calendar"):
    """The row (id, path, tag, props, read_only) of an existing calendar of ``user``."""
    path = own_calendar_path(user, given, field)
    row = (await conn.execute(queries.CALENDAR_BY_PATH, {"path": path})).first()
    if row is None:
        raise NotFound(f"you have no calendar /{path}/")
    if row.tag != "VCALENDAR":
        raise ValidationError([{"field": field, "reason": f"/{path}/ is not a calendar"}])
    return row
