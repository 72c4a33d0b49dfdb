"""Errors as RFC 9457 problem details (``application/problem+json``)."""
from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from okr_extension.api import database_errors

from okr_extension.api.limits import TOO_LARGE

from storage_plugin import availability

logger = logging.getLogger("planerix.api")
PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
          413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class Problem(Exception):
    """Raised anywhere below a handler; the middleware turns it into a response."""

    def __init__(self, status: int, detail: str, *, errors: list[dict] | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers


def problem_response(status: int, detail: str, *, errors: list[dict] | None = None,
                     headers: dict | None = None) -> web.Response:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


def database_unavailable() -> web.Response:
    seconds = availability.RETRY_AFTER_SECONDS
    return problem_response(503, f"the database is unavailable; retry in {seconds} seconds",
                            headers={"Retry-After": str(seconds)})


def validation_problem(error: ValidationError, where: str = "body") -> Problem:
    """One entry per wrong field, with its location, so a person can fix the request."""
    errors = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or where
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": field, "message": message})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem(422, f"invalid {where}: {summary}", errors=errors)


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem.status, problem.detail, errors=problem.errors,
                                headers=problem.headers)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        detail = {404: f"no such resource: {request.path}",
                  405: f"{request.method} is not allowed on {request.path}",
                  413: TOO_LARGE}.get(http.status, http.reason)
        headers = {k: v for k, v in http.headers.items() if k.lower() == "allow"}
        return problem_response(http.status, detail, headers=headers)
    except Exception as error:
        answer = database_errors.status_and_detail(error) if isinstance(error, DBAPIError) else None
        if answer is not None:
            logger.warning("database refused %s %s: %s", request.method, request.path, answer[1])
            return problem_response(*answer)
        if availability.is_database_unavailable(error):
            logger.warning("%s %s: 503, the database is unavailable: %s", request.method, request.path,
                           availability.describe(error))
            return database_unavailable()
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "internal error; the server log has the details")
