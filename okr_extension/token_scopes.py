"""What a personal token may do: its scopes, and optionally the one organisation it may reach.

- ``read``: GET and HEAD; ``write``: read, plus changes; ``ingest``: KPI measurements only (an
  automation that pushes numbers cannot read or delete anything); ``admin``: everything, including
  organisations, members, tokens, webhooks and rules. Tokens made before scopes existed are ``admin``.
- A route's needed scope is declared in the route table (``Operation.token_scope``) or follows from
  its method, so a route added later is covered without a list to keep up to date here.
- A token limited to an organisation reaches only organisation routes (``ORGANISATION_TAGS``: goals,
  KPIs, automation, and the API's own description); everything personal (calendars, feeds, account,
  shares) is refused, and a route added later is refused until it is declared an organisation route.
  Which organisation: ``access`` reads ``ORGANISATION_LIMIT`` wherever it looks up a membership, so
  the limit is enforced where the rights are, not beside them.
"""
from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem

SCOPES = ("read", "write", "ingest", "admin")
GRANTS = {"read": {"read"}, "write": {"read", "write", "ingest"}, "ingest": {"ingest"}, "admin": set(SCOPES)}
ORGANISATION_TAGS = frozenset({"organisations", "objectives", "key results", "kpis", "webhooks", "rules", "resources",
                               "events", "system"})

# The organisation the current request's token is limited to (None: not limited).
ORGANISATION_LIMIT: ContextVar[uuid.UUID | None] = ContextVar("token_organisation_limit", default=None)


@dataclass(frozen=True)
class TokenGrant:
    user: str
    scopes: tuple[str, ...]
    organisation_id: uuid.UUID | None


def granted(scopes) -> set[str]:
    return set().union(*(GRANTS[scope] for scope in scopes))


def check(grant: TokenGrant, operation: Operation | None) -> None:
    """Refuse (403) what the token's scopes or organisation limit do not cover."""
    if operation is None:
        return  # no route matched: the router answers 404 / 405
    needed = operation.needed_token_scope
    if needed not in granted(grant.scopes):
        raise Problem(403, f"this token has the scopes {', '.join(grant.scopes)}; {operation.method} "
                           f"{operation.documented_path} needs '{needed}' (make a token with that scope)")
    if grant.organisation_id is not None and operation.tag not in ORGANISATION_TAGS:
        raise Problem(403, f"this token is limited to organisation {grant.organisation_id}; "
                           f"{operation.documented_path} is not organisation data (use a token without a limit)")
