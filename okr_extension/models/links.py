"""Links between calendar items and goals, time invested, and the agenda."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from okr_extension.models.common import Body, Moment, Out, Page, Params, Query, ShortText, Weight

TargetKind = Literal["key_result", "kpi", "objective", "project"]
Calendar = ShortText


class _ItemKey(BaseModel):
    """An item by its calendar and either its UID or its resource name."""
    calendar: Calendar = Field(min_length=1, description="a calendar path such as /alice/work/")
    uid: ShortText | None = Field(None, description="the item's UID (or give href)")
    href: ShortText | None = Field(None, description="the item's resource name, e.g. meeting.ics")

    @model_validator(mode="after")
    def _one_key(self):
        if (self.uid is None) == (self.href is None):
            raise ValueError("give exactly one of uid and href")
        return self


class LinkCreate(_ItemKey, Body):
    target_kind: TargetKind
    target_id: ShortText = Field(min_length=1)
    weight: Weight = 1.0


class LinkParams(_ItemKey, Params):
    target_kind: TargetKind
    target_id: ShortText = Field(min_length=1)


class ItemParams(_ItemKey, Params):
    pass


class GoalLink(Out):
    target_kind: TargetKind
    target_id: str
    weight: float
    title: str | None = Field(description="the goal's title, when it exists and you may see it")
    dangling: bool = Field(description="no such goal (yet): the link is kept")


class ItemLinks(Out):
    calendar: str
    href: str
    uid: str
    etag: str = Field(description="the item's new ETag: CalDAV clients see the change on their next sync")
    links: list[GoalLink]


class TargetParams(Query):
    target_kind: TargetKind
    target_id: ShortText = Field(min_length=1)


class LinkedItem(Out):
    calendar: str
    href: str
    uid: str
    component: Literal["VEVENT", "VTODO", "VJOURNAL"] | str
    etag: str
    summary: str | None
    status: str | None
    percent_complete: int | None
    due: datetime | None = Field(description="DUE of a task, start of an event")
    completion: float | None = Field(description="tasks: 1 when COMPLETED, else PERCENT-COMPLETE/100; "
                                                 "null for events and cancelled tasks (they do not count)")
    weight: float


class LinkedItems(Page):
    target_kind: TargetKind
    target_id: str
    title: str | None
    dangling: bool
    items: list[LinkedItem]


class RangeParams(Params):
    start: Moment
    end: Moment


class TimeParams(RangeParams):
    target_kind: TargetKind
    target_id: ShortText = Field(min_length=1)


class WeekHours(Out):
    week_start: datetime
    hours: float
    occurrences: int


class TimeInvested(Out):
    target_kind: TargetKind
    target_id: str
    start: datetime
    end: datetime
    total_hours: float
    weeks: list[WeekHours]


AGENDA_LIMIT = 2000  # event occurrences, and tasks, listed at most per agenda


class AgendaEntry(Out):
    kind: Literal["event", "task", "objective_due", "key_result_due", "kpi_review"]
    start: datetime
    end: datetime | None
    title: str | None
    calendar: str | None = None
    href: str | None = None
    uid: str | None = None
    goal_id: str | None = None
    links: list[GoalLink] = []
    conflicts: list[int] = Field([], description="indexes of the events this one overlaps")


class MyTasksParams(Params):
    completed: bool = Field(False, description="also completed and cancelled tasks")


class AssignedTask(Out):
    calendar: str = Field(description="the list it is in (yours, or one shared with you)")
    href: str
    uid: str
    title: str | None
    status: str | None
    percent_complete: int | None
    due: datetime | None
    partstat: str = Field(description="your answer as its ATTENDEE (NEEDS-ACTION, ACCEPTED, ...)")
    links: list[GoalLink]


class MyTasks(Out):
    items: list[AssignedTask]
    truncated: bool = Field(description=f"more than {AGENDA_LIMIT} tasks: the first by due date are listed")


class Agenda(Out):
    start: datetime
    end: datetime
    entries: list[AgendaEntry]
    truncated: bool = Field(description=f"the range holds more than {AGENDA_LIMIT} event occurrences or "
                                        f"{AGENDA_LIMIT} tasks: only the first {AGENDA_LIMIT} of each "
                                        "(by start) are listed; ask for a shorter range")
