"""Request and response shapes of webhooks and their deliveries."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

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
