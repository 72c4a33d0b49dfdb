"""The feed handlers' errors as problem responses (the sidecar's one format), and their parsing."""
from __future__ import annotations

import functools
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from okr_extension.api.problems import problem_response
from okr_extension.api.requests import decode_json
from okr_extension.feeds.options import ValidationError
from storage_plugin.writer import NotFound, WriteError

MAX_ID = 2 ** 63 - 1


class BadRequest(Exception):
    pass


def problem(status: int, detail: str, errors: list | None = None) -> web.Response:
    return problem_response(status, detail, errors=errors)


def api(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Turns the domain's errors into problem responses (422 for invalid input)."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ValidationError as e:
            # "message" as in every problem of the API; "reason" kept for clients written against it.
            return problem(422, f"invalid input: {e}", errors=[{**error, "message": error["reason"]}
                                                              for error in e.errors])
        except WriteError as e:
            return problem(e.status, e.reason)
        except BadRequest as e:
            return problem(400, str(e))
    return wrapper


async def json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        raise BadRequest("send a JSON body (Content-Type: application/json)")
    data = decode_json(await request.read())
    try:
        # JSON lets "\ud800" stand alone; such a lone surrogate is no text PostgreSQL can store.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeError as e:
        raise BadRequest(f"the body is not valid JSON text: {e}") from None
    return data


def path_id(request: web.Request, what: str) -> int:
    value = int(request.match_info["id"])  # the route only matches digits
    if value > MAX_ID:
        raise NotFound(f"you have no {what} {value}")
    return value
