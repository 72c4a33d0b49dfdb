"""Shared field types and base classes."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here with a reason instead of failing there.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


def _text(**limits):
    return Annotated[str, StringConstraints(**limits), AfterValidator(_no_nul)]


Title = _text(min_length=1, max_length=500)
Text = _text(max_length=20_000)
ShortText = _text(max_length=200)
UserName = _text(min_length=1, max_length=200)
Tag = _text(min_length=1, max_length=100)
Tags = Annotated[list[Tag], Field(max_length=50)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
# Not ``Number = Field(ge=0)``: a Field given as the default does not tighten the Annotated bound
# (the document said -1e15, and a negative weight reached the database's CHECK as a 500).
Weight = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e15)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Limit = Annotated[int, Field(ge=1, le=500)]
# Days and moments sent to the API: years 1900 to 9998, so that adding a day or a period
# (a deadline's end, the next KPI review, a series bucket) never leaves the calendar.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


def _moment_in_range(value: datetime) -> datetime:
    _day_in_range(value.date())
    return value


Day = Annotated[date, AfterValidator(_day_in_range)]
Moment = Annotated[AwareDatetime, AfterValidator(_moment_in_range)]
Priority = Literal["low", "medium", "high", "critical"]
Role = Literal["owner", "admin", "member", "viewer"]


def _drop_null_defaults(schema: dict) -> None:
    # Patch fields default to "not sent", not to null: the documented schema must not
    # advertise null for fields that refuse it.
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None:
            del prop["default"]


class Body(BaseModel):
    """A request body: unknown fields and loose types are errors, not silently dropped."""
    model_config = ConfigDict(extra="forbid", strict=True)


class Patch(Body):
    """A partial update: only the fields sent change; null clears a nullable field."""
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_drop_null_defaults)

    def changes(self) -> dict:
        return self.model_dump(include=self.model_fields_set)


class Params(BaseModel):
    """Query-string parameters (strings converted, unknown names refused)."""
    model_config = ConfigDict(extra="forbid")


class Query(Params):
    """The parameters of a list: filters, sort, and the page."""
    cursor: str | None = Field(None, description="next_cursor of the previous page")
    limit: Limit = 50


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Out):
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


__all__ = ["BaseModel", "Field", "Literal", "uuid", "date", "datetime"]
