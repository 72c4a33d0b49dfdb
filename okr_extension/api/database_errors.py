"""A database refusal that request validation missed, as a 409 or 422 instead of a 500.

The request models refuse what the schema's constraints would; this is the safety net for
the rest (a constraint added later, a race between two requests), so the client still learns
which rule its request broke and nothing is written (the transaction is rolled back).
"""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# SQLSTATE classes and codes (PostgreSQL appendix A).
_CONFLICTS = {"23505": "conflicts with stored data",         # unique_violation
              "23P01": "conflicts with stored data"}         # exclusion_violation
_INVALID = {"23514": "breaks a rule of the stored data",     # check_violation
            "23502": "leaves out a required value",          # not_null_violation
            "23503": "refers to something that does not exist or is still referred to"}
_DATA_EXCEPTION_CLASS = "22"  # out of range, bad encoding, value too long, ...


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)


def _message(error: DBAPIError, with_detail: bool) -> str:
    """PostgreSQL's primary message (names the constraint), with asyncpg or psycopg underneath."""
    driver_error = error.orig.__cause__ or error.orig
    diag = getattr(driver_error, "diag", None)
    primary = getattr(driver_error, "message", None) or getattr(diag, "message_primary", None)
    detail = getattr(driver_error, "detail", None) or getattr(diag, "message_detail", None)
    text = primary or str(driver_error).splitlines()[0]
    return f"{text} ({detail})" if with_detail and detail else text


def status_and_detail(error: DBAPIError) -> tuple[int, str] | None:
    """The status and detail to answer for ``error``, or None when it is not the request's fault."""
    state = _sqlstate(error) or ""
    if state in _CONFLICTS:
        # The key's value is what the request sent; other details ("Failing row contains")
        # could show stored columns, so only unique violations carry them.
        return 409, f"the request {_CONFLICTS[state]}: {_message(error, True)}"
    if state in _INVALID:
        return 422, f"the request {_INVALID[state]}: {_message(error, False)}"
    if state.startswith(_DATA_EXCEPTION_CLASS):
        return 422, f"the request holds a value the database cannot store: {_message(error, False)}"
    return None
