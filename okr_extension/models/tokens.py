from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, Field

from okr_extension.models.common import Body, Out, ShortText


class TokenCreate(Body):
    name: ShortText = Field(min_length=1, description="what the token is for, e.g. 'n8n'")
    expires: AwareDatetime | None = None


class TokenOut(Out):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created: datetime
    last_used: datetime | None
    expires: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: send it as 'Authorization: Bearer <token>'; "
                                   "shown only in this response")


class TokenList(Out):
    items: list[TokenOut]
