"""Objectives, key results and check-ins."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from okr_extension.models.kpis import Aggregation
from okr_extension.models.common import (Body, Day, Fraction, Number, Out, Page, Patch, Priority, Query,
                                         ShortText, Tag, Tags, Text, Title, UserName, Weight)

ObjectiveStatus = Literal["draft", "active", "completed", "archived", "cancelled"]
Tracking = Literal["on_track", "at_risk", "off_track", "achieved"]
KeyResultKind = Literal["increase_to", "decrease_to", "stay_above", "stay_below", "milestone"]
ProgressMode = Literal["value", "tasks"]
Progress = float | None


def check_dates(start: date | None, due: date | None) -> None:
    if start is not None and due is not None and start > due:
        raise ValueError(f"start_date {start} is after due_date {due}")


def check_key_result_values(kind: str, start: float, target: float) -> None:
    if kind in ("increase_to", "decrease_to") and target == start:
        raise ValueError(f"target_value equals start_value ({start}): nothing to {kind.split('_')[0]}")
    if kind == "increase_to" and target < start:
        raise ValueError("an increase_to key result needs target_value above start_value "
                         "(use decrease_to to go down)")
    if kind == "decrease_to" and target > start:
        raise ValueError("a decrease_to key result needs target_value below start_value "
                         "(use increase_to to go up)")


class ObjectiveCreate(Body):
    organisation_id: uuid.UUID
    title: Title
    description: Text = ""
    owner: UserName | None = Field(None, description="defaults to you")
    parent_id: uuid.UUID | None = None
    priority: Priority = "medium"
    status: ObjectiveStatus = "active"
    start_date: Day | None = None
    due_date: Day | None = None
    tags: Tags = []

    @model_validator(mode="after")
    def _dates(self):
        check_dates(self.start_date, self.due_date)
        return self


class ObjectivePatch(Patch):
    title: Title = None
    description: Text = None
    owner: UserName = None
    parent_id: uuid.UUID | None = None
    priority: Priority = None
    status: ObjectiveStatus = None
    start_date: Day | None = None
    due_date: Day | None = None
    tags: Tags = None


class ObjectiveOut(Out):
    id: uuid.UUID
    organisation_id: uuid.UUID
    title: str
    description: str
    owner: str
    parent_id: uuid.UUID | None
    priority: Priority
    status: ObjectiveStatus
    start_date: date | None
    due_date: date | None
    tags: list[str]
    progress: Progress = Field(description="weighted mean of key results and child objectives; "
                                           "null with nothing to measure")
    tracking: Tracking | None = Field(description="progress against the time elapsed")
    created: datetime
    updated: datetime


class ObjectivePage(Page):
    items: list[ObjectiveOut]


class ObjectiveQuery(Query):
    organisation_id: uuid.UUID | None = None
    owner: UserName | None = None
    status: ObjectiveStatus | None = None
    priority: Priority | None = None
    parent_id: uuid.UUID | None = None
    tag: Tag | None = None
    sort: Literal["created", "-created", "updated", "-updated", "title", "-title",
                  "due_date", "-due_date"] = "created"


class KeyResultSource(Body):
    kpi: uuid.UUID = Field(description="a KPI of the key result's organisation")
    aggregation: Aggregation | None = Field(None, description="how the KPI's measurements over the key "
                                                              "result's period make its value; default: "
                                                              "the KPI's own aggregation")


SOURCE_TEXT = ("follow a KPI: the current value is the KPI's value over the key result's period (from the "
               "objective's start to the due day), moved by every measurement; check-ins are then refused")


class KeyResultCreate(Body):
    objective_id: uuid.UUID
    title: Title
    description: Text = ""
    owner: UserName | None = Field(None, description="defaults to you")
    kind: KeyResultKind = "increase_to"
    start_value: Number = 0.0
    target_value: Number
    current_value: Number | None = Field(None, description="defaults to start_value")
    unit: ShortText = ""
    weight: Weight = 1.0
    due_date: Day | None = None
    progress_mode: ProgressMode = "value"
    source: KeyResultSource | None = Field(None, description=SOURCE_TEXT)

    @model_validator(mode="after")
    def _values(self):
        check_key_result_values(self.kind, self.start_value, self.target_value)
        return self


class KeyResultPatch(Patch):
    title: Title = None
    description: Text = None
    owner: UserName = None
    kind: KeyResultKind = None
    start_value: Number = None
    target_value: Number = None
    current_value: Number = None
    unit: ShortText = None
    weight: Weight = None
    due_date: Day | None = None
    progress_mode: ProgressMode = None
    source: KeyResultSource | None = Field(None, description=SOURCE_TEXT + "; null stops following")


class KeyResultOut(Out):
    id: uuid.UUID
    objective_id: uuid.UUID
    organisation_id: uuid.UUID
    title: str
    description: str
    owner: str
    kind: KeyResultKind
    start_value: float
    target_value: float
    current_value: float
    unit: str
    weight: float
    due_date: date | None
    progress_mode: ProgressMode
    source: KeyResultSource | None
    progress: Progress = Field(description="0..1, above 1 on overshoot")
    tracking: Tracking | None
    created: datetime
    updated: datetime


class KeyResultPage(Page):
    items: list[KeyResultOut]


class KeyResultQuery(Query):
    organisation_id: uuid.UUID | None = None
    objective_id: uuid.UUID | None = None
    owner: UserName | None = None
    kind: KeyResultKind | None = None
    sort: Literal["created", "-created", "updated", "-updated", "title", "-title",
                  "due_date", "-due_date"] = "created"


class CheckInCreate(Body):
    key_result_id: uuid.UUID
    value: Number
    confidence: Fraction | None = None
    note: Text = ""


class CheckInPatch(Patch):
    confidence: Fraction | None = None
    note: Text = None


class CheckInOut(Out):
    id: uuid.UUID
    key_result_id: uuid.UUID
    organisation_id: uuid.UUID
    value: float
    confidence: float | None
    note: str
    author: str
    created: datetime


class CheckInPage(Page):
    items: list[CheckInOut]


class CheckInQuery(Query):
    key_result_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    author: UserName | None = None
    sort: Literal["created", "-created"] = "-created"
