"""Request and response models of team calendars (and so their OpenAPI schemas)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from okr_extension.models.common import Body, Out, ShortText
from okr_extension.sharing.schemas import SquadId


class TeamCalendarIn(Body):
    name: ShortText = Field(min_length=1, description="shown in every member's calendar app")
    tasks: bool = Field(False, description="a task list (VTODO) instead of a calendar (VEVENT)")
    squad: SquadId | None = Field(None, description="shared with this squad only; default: every member")
    access: Literal["read-write", "read"] = Field("read-write", description="what members may do in it")


class TeamCalendarOut(Out):
    id: int = Field(description="the calendar's id")
    calendar: str = Field(description="its path, under the organisation's team account")
    name: str
    tasks: bool
    squad: int | None
    access: Literal["read-write", "read"]
    mount: str | None = Field(description="where it appears in your CalDAV home (null: not shared with you)")


class TeamCalendars(Out):
    items: list[TeamCalendarOut]
