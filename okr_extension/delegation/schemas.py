"""Request and response models of the delegation API (and so its OpenAPI schemas)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from okr_extension.models.common import Body, Out, Patch, UserName

Access = Literal["read", "write"]
_ACCESS = ("write: read and change every calendar and task list of yours; read: see them. "
           "Neither reaches your scheduling inbox or outbox, nor address books")


class DelegationIn(Body):
    delegate: UserName = Field(description="the user who becomes your proxy")
    access: Access = Field(description=_ACCESS)


class DelegationPatch(Patch):
    access: Access = Field(description=_ACCESS)


class DelegationOut(Out):
    delegate: str
    access: Access
    created: datetime


class DelegatedToMe(Out):
    delegator: str = Field(description="whose proxy you are")
    access: Access
    home: str = Field(description="their CalDAV home, where your clients find their calendars, e.g. /alice/")


class Delegations(Out):
    delegations: list[DelegationOut] = Field(description="your proxies")
    delegated_to_me: list[DelegatedToMe] = Field(description="the users whose proxy you are")
