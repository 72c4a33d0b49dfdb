"""Request and response models of the free-busy and availability API (and so its OpenAPI schemas)."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from okr_extension.models.common import Body, Moment, Out, Params, _text

MAX_USERS = 50
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 / RFC 5545 duration such as PT1H, PT30M, P1DT2H or P1W."""
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not a duration such as PT30M, PT1H or P1D")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _users(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("name at least one user (comma-separated user names or email addresses)")
    if len(names) > MAX_USERS:
        raise ValueError(f"at most {MAX_USERS} users per request")
    if any(len(name) > 254 or any(ord(c) < 32 for c in name) for name in names):
        raise ValueError("a user name or address has at most 254 characters and no control characters")
    return list(dict.fromkeys(names))


def _bounded_duration(low: timedelta, high: timedelta):
    def check(value: str) -> str:
        length = parse_duration(value)
        if not low <= length <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value
    return check


Users = Annotated[_text(min_length=1, max_length=20_000), AfterValidator(_users)]
Duration = Annotated[_text(min_length=2, max_length=40),
                     AfterValidator(_bounded_duration(timedelta(minutes=1), timedelta(days=7)))]
Step = Annotated[_text(min_length=2, max_length=40),
                 AfterValidator(_bounded_duration(timedelta(minutes=1), timedelta(days=1)))]


class FreeBusyParams(Params):
    users: Users = Field(description="comma-separated user names or email addresses, at most "
                                     f"{MAX_USERS}; e.g. bob,carol@example.org")
    start: Moment
    end: Moment = Field(description="after start; at most 400 days after it")

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("end must come after start")
        return self


class FindTimeParams(FreeBusyParams):
    duration: Duration = Field(description="how long the meeting lasts (ISO 8601, e.g. PT1H, PT30M)")
    step: Step = Field("PT15M", description="slots start at multiples of this (from the Unix epoch, "
                                            "so PT15M gives quarter hours in UTC)")


class BusyPeriod(Out):
    start: Moment
    end: Moment
    type: Literal["BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"] = Field(
        description="BUSY-UNAVAILABLE: outside the user's working hours")


class UserFreeBusy(Out):
    user: str = Field(description="as asked")
    found: bool = Field(description="false for anyone who is not a user you may see (unknown and "
                                    "invisible users look the same)")
    busy: list[BusyPeriod] = Field(description="merged, sorted and clipped to the range; only times")


class FreeBusy(Out):
    start: Moment
    end: Moment
    users: list[UserFreeBusy]


class FreeSlot(Out):
    start: Moment
    end: Moment = Field(description="the free stretch ends here; any start from `start` to "
                                    "`end` minus the duration fits")


class FindTime(Out):
    start: Moment
    end: Moment
    duration: str
    users: list[str]
    slots: list[FreeSlot] = Field(description="stretches free for everybody (inside everybody's "
                                              "working hours) at least `duration` long")


class WorkingBlock(Body):
    days: list[Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]] = Field(min_length=1, max_length=7)
    start: _text(pattern=r"^\d\d:\d\d$") = Field(description="HH:MM, local time in `timezone`")
    end: _text(pattern=r"^\d\d:\d\d$") = Field(description="HH:MM, after start")


class AvailabilityIn(Body):
    vavailability: _text(min_length=1, max_length=65_536) | None = Field(
        None, description="an iCalendar text with VAVAILABILITY components (RFC 7953)")
    timezone: _text(min_length=1, max_length=64) | None = Field(
        None, description="IANA time zone of `weekly` (e.g. Europe/Berlin)")
    weekly: list[WorkingBlock] | None = Field(
        None, max_length=50, description="working hours per weekday; written as a VAVAILABILITY")

    @model_validator(mode="after")
    def _one_form(self):
        if (self.vavailability is None) == (self.weekly is None):
            raise ValueError("send either `vavailability` or `timezone` with `weekly`")
        if self.weekly is not None and self.timezone is None:
            raise ValueError("`weekly` needs a `timezone`")
        return self


class Availability(Out):
    user: str
    vavailability: str | None = Field(description="the stored VAVAILABILITY; null: no working hours "
                                                  "(all time counts as available)")
