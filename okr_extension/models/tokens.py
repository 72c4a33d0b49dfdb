from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from okr_extension.models.common import Body, Out, ShortText


Scope = Literal["read", "write", "ingest", "admin"]
SCOPES_TEXT = ("read: GET only; write: read and changes; ingest: KPI measurements only; admin: everything, "
               "including organisations, members, tokens, webhooks and rules")


class TokenCreate(Body):
    name: ShortText = Field(min_length=1, description="what the token is for, e.g. 'n8n'")
    expires: AwareDatetime | None = None
    scopes: list[Scope] = Field(default=["admin"], min_length=1, max_length=4,
                                description=SCOPES_TEXT + " (default: admin, a token's power before scopes)")
    organisation_id: uuid.UUID | None = Field(
        default=None, description="limit the token to this organisation's goals, KPIs and automation; "
                                  "it then reaches nothing personal (calendars, feeds, account)")


class TokenOut(Out):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created: datetime
    last_used: datetime | None = Field(description="when the token was last used, noted at most once an hour")
    expires: datetime | None
    scopes: list[str] = Field(description=SCOPES_TEXT)
    organisation_id: uuid.UUID | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: send it as 'Authorization: Bearer <token>'; "
                                   "shown only in this response")


class TokenList(Out):
    items: list[TokenOut]
