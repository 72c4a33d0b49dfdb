"""Request and response models of the sharing API (and so its OpenAPI schemas)."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator

from okr_extension.models.common import Body, Out, Patch, ShortText, UserName, _text

Access = Literal["read", "read-write", "free-busy"]
SquadId = Annotated[int, Field(ge=1, le=2**62)]
CalendarPath = _text(min_length=1, max_length=2100)
Members = Annotated[list[UserName], Field(max_length=500)]


class ShareIn(Body):
    calendar: CalendarPath = Field(description='one of your calendars or task lists: "/alice/team/" or "team"')
    user: UserName | None = Field(None, description="share with this user")
    squad: SquadId | None = Field(None, description="share with every member of this squad")
    organisation: uuid.UUID | None = Field(None, description="share with every member of this organisation")
    access: Access = Field(description="read-write: change its items; read: see them; "
                                       "free-busy: see busy times only")

    @model_validator(mode="after")
    def _one_grantee(self):
        if sum(value is not None for value in (self.user, self.squad, self.organisation)) != 1:
            raise ValueError("name exactly one of user, squad or organisation")
        return self


class SharePatch(Patch):
    access: Access


class ShareOut(Out):
    id: int
    calendar: str = Field(description="the shared calendar's path, e.g. /alice/team/")
    owner: str
    user: str | None
    squad: int | None
    organisation: uuid.UUID | None
    access: Access


class SharedWithMe(Out):
    calendar: str = Field(description="the owner's path, e.g. /alice/team/")
    owner: str
    access: Access = Field(description="the strongest access any share gives you")
    mount: str | None = Field(description="where it appears in your CalDAV home (null for free-busy: "
                                          "clients cannot show busy times as a calendar)")


class Shares(Out):
    shares: list[ShareOut] = Field(description="shares of your calendars")
    shared_with_me: list[SharedWithMe] = Field(description="calendars of others you may use")


class SquadIn(Body):
    name: ShortText = Field(min_length=1)
    members: Members = Field(default_factory=list, description="user names, members of the organisation")


class SquadPatch(Patch):
    name: ShortText | None = Field(None, min_length=1)
    members: Members | None = Field(None, description="replaces the members")


class SquadOut(Out):
    id: int
    organisation: uuid.UUID
    name: str
    members: list[str]


class Squads(Out):
    squads: list[SquadOut]
