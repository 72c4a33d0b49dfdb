"""Reading request bodies, query strings and path ids into validated models."""
from __future__ import annotations

import json
import uuid
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from okr_extension.api.limits import MAX_BODY, TOO_LARGE
from okr_extension.api.problems import Problem, validation_problem

Model = TypeVar("Model")
MAX_DEPTH = 32  # arrays and objects inside each other; every body the API takes needs at most 4


def decode_json(raw: bytes | str):
    """The JSON value of a body: 400 with the reason if it is not JSON or nests too deeply."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the decoder gives up past Python's recursion limit (about 1,000 levels)
        raise Problem(400, f"the body nests arrays or objects more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Problem(400, f"the body is not valid JSON: {e}") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise Problem(400, f"the body nests arrays or objects more than {MAX_DEPTH} levels deep")
    return value


def _depth_exceeds(value, limit: int) -> bool:
    """Whether containers nest deeper than ``limit``: one pass, no recursion."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


async def read_json(request: web.Request, schema: type[Model] | TypeAdapter) -> Model:
    """The body as ``schema``: 415 unless JSON, 400 if unparsable, 422 naming each bad field."""
    if request.content_type != "application/json":
        raise Problem(415, "send the body as application/json")
    if request.content_length and request.content_length > MAX_BODY:
        raise Problem(413, TOO_LARGE)
    raw = await request.read()  # a body without Content-Length stops at client_max_size (413)
    adapter = schema if isinstance(schema, TypeAdapter) else TypeAdapter(schema)
    decode_json(raw)
    try:
        return adapter.validate_json(raw)
    except ValidationError as e:
        raise validation_problem(e) from None


def read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """Query parameters as ``model`` (unknown parameters are a 422, so typos are not ignored)."""
    params: dict[str, str | list[str]] = {}
    for key in request.query:
        values = request.query.getall(key)
        params[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(params)
    except ValidationError as e:
        raise validation_problem(e, "query") from None


def path_name(request: web.Request, name: str) -> str:
    """A name from the path (a user name); NUL cannot be in any stored name."""
    value = request.match_info[name]
    if "\x00" in value:
        raise Problem(404, f"no such resource: {name} contains the NUL character")
    return value


def path_int(request: web.Request, name: str) -> int:
    """A positive integer id from the path (404 for anything else)."""
    text = request.match_info[name]
    if not text.isdigit() or not 0 < int(text) < 2**62:
        raise Problem(404, f"no such resource: {request.path} ({name} is not a positive integer)")
    return int(text)


def path_id(request: web.Request, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise Problem(404, f"no such resource: {request.path} ({name} is not a UUID)") from None
