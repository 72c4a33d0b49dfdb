"""Request and response shapes of webhooks and their deliveries."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, field_validator

from okr_extension.automation.transitions import KINDS
from okr_extension.models.common import Body, Out, Params, Patch, ShortText

EventKind = Literal[KINDS]  # type: ignore[valid-type]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048),
                Field(description="http(s) URL the events are POSTed to", examples=["https://example.com/hooks/planerix"])]
Kinds = Annotated[list[EventKind], Field(min_length=1, max_length=len(KINDS),
                                         description="the event kinds to deliver")]


class WebhookCreate(Body):
    organisation_id: uuid.UUID
    url: Url
    kinds: Kinds
    goal_id: uuid.UUID | None = Field(None, description="only events about this goal (a KPI, key result "
                                                        "or objective, or an objective above the subject)")
    description: ShortText = ""


class WebhookPatch(Patch):
    url: Url = None
    kinds: Kinds = None
    goal_id: uuid.UUID | None = None
    description: ShortText = None
    enabled: bool = Field(None, description="true re-enables a disabled webhook (its failures forgotten)")


class WebhookOut(Out):
    id: uuid.UUID
    organisation_id: uuid.UUID
    url: str
    kinds: list[str]
    goal_id: uuid.UUID | None
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description="why the webhook was disabled (null while enabled)")
    failing_since: datetime | None = Field(description="since when every attempt has failed")
    created_by: str | None
    created: datetime
    updated: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret; shown only in this response")


class WebhookList(Out):
    items: list[WebhookOut]


class WebhookQuery(Params):
    organisation_id: uuid.UUID | None = None


DeliveryState = Literal["pending", "delivered", "dead"]


class DeliveryOut(Out):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_kind: str
    state: DeliveryState
    attempts: int
    next_attempt: datetime | None = Field(description="when the next try is due (pending deliveries)")
    last_attempt: datetime | None
    last_status: int | None = Field(description="the receiver's HTTP status at the last try")
    last_error: str | None
    delivered: datetime | None
    replay_of: uuid.UUID | None
    created: datetime


class DeliveryPage(Out):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for older deliveries; null on the last page")


class DeliveryQuery(Params):
    state: DeliveryState | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=500)


class ReplayRange(Body):
    start: AwareDatetime = Field(description="events that occurred from this moment")
    end: AwareDatetime = Field(description="up to this moment (exclusive)")


class ReplayResult(Out):
    deliveries: list[uuid.UUID] = Field(description="the new deliveries, one per event replayed")


class EventStreamQuery(Params):
    organisation_id: uuid.UUID | None = Field(None, description="only this organisation's events")
    kind: list[EventKind] | None = Field(None, description="only these kinds (repeat the parameter)")
    last_event_id: int | None = Field(None, ge=0, lt=2 ** 63,
                                      description="resume after this event id (the Last-Event-ID header wins)")

    @field_validator("kind", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    max_seconds: int = Field(300, ge=1, le=3600, description="the stream ends after this long (EventSource "
                                                             "clients reconnect by themselves, with Last-Event-ID)")


# -- rules ------------------------------------------------------------------------------------
Template = Annotated[str, StringConstraints(min_length=1, max_length=200),
                     Field(description="text with placeholders {rule}, {date}, {time} (of the occurrence, "
                                       "in the schedule's zone), {kind} and {title} (of the event's subject)")]
CalendarPath = Annotated[str, StringConstraints(min_length=3, max_length=500),
                         Field(description="one of your calendars, e.g. /alice/tasks/")]


def _local_time(value: str) -> str:
    datetime.fromisoformat(value)  # a ValueError says what is wrong (e.g. month 13)
    return value


LocalTime = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$"),
                      AfterValidator(_local_time)]


class ScheduleTrigger(Body):
    type: Literal["schedule"]
    dtstart: LocalTime = Field(description="first occurrence, local time without offset, e.g. 2026-03-02T09:00:00")
    tzid: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="IANA time zone of dtstart and of the rule, e.g. Europe/Berlin")
    rrule: Annotated[str, StringConstraints(min_length=6, max_length=500)] = Field(
        description="an iCalendar RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=9 (FREQ at least HOURLY)")


class EventTrigger(Body):
    type: Literal["event"]
    kinds: Kinds
    goal_id: uuid.UUID | None = Field(None, description="only events about this goal (as for webhooks)")


Trigger = Annotated[ScheduleTrigger | EventTrigger, Field(discriminator="type")]


class CreateTask(Body):
    type: Literal["create_task"]
    calendar: CalendarPath
    summary: Template
    key_result_id: uuid.UUID | None = Field(None, description="link the task to this key result (X-PLANERIX-KEY-RESULT)")
    due_in_hours: int = Field(24, ge=0, le=8760, description="DUE this long after the occurrence or event")


class CreateEvent(Body):
    type: Literal["create_event"]
    calendar: CalendarPath
    summary: Template
    duration_minutes: int = Field(30, ge=1, le=1440)
    alarm_minutes_before: int = Field(15, ge=0, le=10080, description="a VALARM (DISPLAY) this long before")


class DeliverToWebhook(Body):
    type: Literal["webhook"]
    webhook_id: uuid.UUID = Field(description="a webhook of the rule's organisation: gets a rule.fired event")


Action = Annotated[CreateTask | CreateEvent | DeliverToWebhook, Field(discriminator="type")]


class RuleCreate(Body):
    organisation_id: uuid.UUID
    name: ShortText = Field(min_length=1)
    trigger: Trigger
    action: Action
    enabled: bool = True
    max_runs_per_hour: int = Field(10, ge=1, le=1000, description="runs beyond it are recorded as skipped")


class RulePatch(Patch):
    name: ShortText = None
    trigger: Trigger = None
    action: Action = None
    enabled: bool = None
    max_runs_per_hour: int = Field(None, ge=1, le=1000)


class RuleOut(Out):
    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    created_by: str = Field(description="whose calendars and rights the actions use")
    trigger: Trigger
    action: Action
    enabled: bool
    max_runs_per_hour: int
    cursor_time: datetime | None = Field(description="the last schedule occurrence handled")
    created: datetime
    updated: datetime


class RuleList(Out):
    items: list[RuleOut]


class RuleQuery(Params):
    organisation_id: uuid.UUID | None = None


class RunOut(Out):
    id: uuid.UUID
    rule_id: uuid.UUID
    run_key: str
    occurrence: datetime | None
    event_id: uuid.UUID | None
    outcome: Literal["done", "failed", "skipped"]
    detail: dict
    ran: datetime


class RunPage(Out):
    items: list[RunOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for older runs; null on the last page")


class RunQuery(Params):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=500)


class DryRunRange(Body):
    start: AwareDatetime
    end: AwareDatetime


class PlannedRun(Out):
    occurrence: datetime | None = Field(description="the schedule occurrence (schedule rules)")
    event_id: uuid.UUID | None = Field(description="the event (event rules)")
    action: dict = Field(description="what would be done: the action with its texts filled in")


class DryRunResult(Out):
    items: list[PlannedRun]
    truncated: bool = Field(description="true when the range holds more than the 1,000 listed")
