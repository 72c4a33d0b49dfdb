"""The API view of invitation emails (and so its OpenAPI schemas)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from okr_extension.models.common import Out, Params, _text


class EmailInvitationParams(Params):
    uid: _text(min_length=1, max_length=1000) | None = Field(
        None, description="only the emails about the event with this UID")


class EmailInvitation(Out):
    id: int
    uid: str
    recipient: str = Field(description="the attendee's mailto: address")
    method: Literal["REQUEST", "CANCEL"]
    created: datetime
    attempts: int
    next_attempt: datetime | None = Field(description="when it is tried again; null once sent or given up")
    sent: datetime | None
    schedule_status: str = Field(description="as SCHEDULE-STATUS on your copy: 1.0 queued, 1.1 sent, "
                                             "5.1 not sent (retrying, or given up after the last attempt), "
                                             "5.3 refused by the mail server")
    error: str | None = Field(description="the last failure, as the mail server or network gave it")


class EmailInvitations(Out):
    emails: list[EmailInvitation]
