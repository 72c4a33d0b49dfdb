"""Request and response models of /api/resources (and so its OpenAPI schemas)."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from okr_extension.models.common import Body, Moment, Out, Params, Patch, ShortText, Tag, UserName, _text

Kind = Literal["ROOM", "RESOURCE"]
Policy = Literal["auto-accept", "accept-if-free", "manual"]
Email = _text(min_length=3, max_length=254)
Capacity = Annotated[int, Field(ge=0, le=1_000_000)]
Features = Annotated[list[Tag], Field(max_length=50)]
Managers = Annotated[list[UserName], Field(max_length=50, description="user names of members who answer "
                                                                      "requests under the manual policy")]


class ResourceIn(Body):
    organisation_id: uuid.UUID
    name: _text(min_length=1, max_length=200) = Field(description="display name, e.g. 'Room 4.01'")
    email: Email = Field(description="its calendar address; invite it with this address")
    type: Kind = "ROOM"
    capacity: Capacity | None = None
    location: ShortText = ""
    features: Features = []
    policy: Policy = "accept-if-free"
    managers: Managers = []


class ResourcePatch(Patch):
    name: _text(min_length=1, max_length=200) | None = None
    email: Email | None = None
    capacity: Capacity | None = None
    location: ShortText | None = None
    features: Features | None = None
    policy: Policy | None = None
    managers: Managers | None = None


class Resource(Out):
    id: uuid.UUID
    organisation_id: uuid.UUID
    account: str = Field(description="its principal's name: /<account>/ on the CalDAV server")
    name: str
    email: str | None
    type: Kind
    capacity: int | None
    location: str
    features: list[str]
    policy: Policy
    managers: list[str]


class ResourceList(Out):
    items: list[Resource]


class ResourceListParams(Params):
    organisation_id: uuid.UUID | None = Field(None, description="only this organisation's")
    type: Kind | None = None


class BookingParams(Params):
    start: Moment
    end: Moment = Field(description="after start; at most 400 days after it")


class Booking(Out):
    uid: str
    instance: str | None = Field(description="the occurrence's RECURRENCE-ID (null: a single event)")
    start: Moment
    end: Moment
    status: Literal["accepted", "declined", "pending"]
    summary: str | None
    organizer: str | None
    reason: str | None = Field(description="why a declined occurrence was declined")


class Bookings(Out):
    resource: uuid.UUID
    start: Moment
    end: Moment
    bookings: list[Booking]


class Decision(Body):
    answer: Literal["accept", "decline"] = Field(
        description="accept books the occurrences that are free (the others are declined)")


class EventBookings(Out):
    resource: uuid.UUID
    uid: str
    bookings: list[Booking]
