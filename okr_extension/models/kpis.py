"""KPI indicators, measurements and period series."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from okr_extension.models.common import (Body, Day, Moment, Number, Out, Page, Params, Patch, Query,
                                         ShortText, Tag, Tags, Text, Title, UserName)

Direction = Literal["higher_is_better", "lower_is_better"]
KpiKind = Literal["counter", "gauge", "percentage"]
Period = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
Aggregation = Literal["sum", "avg", "last", "min", "max"]
Health = Literal["green", "yellow", "red"]


def check_thresholds(direction: str, warn: float | None, alarm: float | None) -> None:
    if warn is None or alarm is None:
        return
    if direction == "higher_is_better" and alarm > warn:
        raise ValueError(f"with higher_is_better the alarm_threshold ({alarm}) must not be above "
                         f"the warn_threshold ({warn})")
    if direction == "lower_is_better" and alarm < warn:
        raise ValueError(f"with lower_is_better the alarm_threshold ({alarm}) must not be below "
                         f"the warn_threshold ({warn})")


class KpiCreate(Body):
    organisation_id: uuid.UUID
    name: Title
    description: Text = ""
    unit: ShortText = ""
    target: Number | None = None
    baseline: Number | None = None
    warn_threshold: Number | None = None
    alarm_threshold: Number | None = None
    direction: Direction = "higher_is_better"
    kind: KpiKind = "gauge"
    period: Period = "monthly"
    aggregation: Aggregation = "last"
    owner: UserName | None = Field(None, description="defaults to you")
    tags: Tags = []
    next_review: Day | None = None

    @model_validator(mode="after")
    def _thresholds(self):
        check_thresholds(self.direction, self.warn_threshold, self.alarm_threshold)
        return self


class KpiPatch(Patch):
    name: Title = None
    description: Text = None
    unit: ShortText = None
    target: Number | None = None
    baseline: Number | None = None
    warn_threshold: Number | None = None
    alarm_threshold: Number | None = None
    direction: Direction = None
    kind: KpiKind = None
    period: Period = None
    aggregation: Aggregation = None
    owner: UserName = None
    tags: Tags = None
    next_review: Day | None = None


class KpiOut(Out):
    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    description: str
    unit: str
    target: float | None
    baseline: float | None
    warn_threshold: float | None
    alarm_threshold: float | None
    direction: Direction
    kind: KpiKind
    period: Period
    aggregation: Aggregation
    owner: str
    tags: list[str]
    next_review: date | None
    current_period_start: datetime = Field(description="start of the period holding now (UTC)")
    current_value: float | None = Field(description="this period's value by the aggregation")
    health: Health | None = Field(description="of the current value, from thresholds and direction")
    trend: float | None = Field(description="least-squares change per period over the last 6 periods")
    created: datetime
    updated: datetime


class KpiPage(Page):
    items: list[KpiOut]


class KpiQuery(Query):
    organisation_id: uuid.UUID | None = None
    owner: UserName | None = None
    tag: Tag | None = None
    sort: Literal["created", "-created", "updated", "-updated", "name", "-name",
                  "next_review", "-next_review"] = "created"


class MeasurementIn(Body):
    measured_at: Moment = Field(description="with a UTC offset; re-sending it replaces the value")
    value: Number
    note: Text = ""
    source: ShortText = ""


class MeasurementBatch(Body):
    measurements: list[MeasurementIn] = Field(min_length=1, max_length=50_000)


class MeasurementOut(Out):
    measured_at: datetime
    value: float
    note: str
    source: str
    author: str
    recorded: datetime


class MeasurementPage(Page):
    items: list[MeasurementOut]


class IngestResult(Out):
    inserted: int
    updated: int


class MeasurementQuery(Query):
    start: Moment | None = Field(None, description="inclusive")
    end: Moment | None = Field(None, description="exclusive")
    limit: int = Field(500, ge=1, le=5000)


class SeriesQuery(Params):
    start: Moment
    end: Moment
    period: Period | None = Field(None, description="defaults to the KPI's period")


class SeriesPoint(Out):
    period_start: datetime
    value: float | None
    count: int
    health: Health | None


class Series(Out):
    kpi_id: uuid.UUID
    period: Period
    aggregation: Aggregation
    points: list[SeriesPoint]
    trend: float | None
