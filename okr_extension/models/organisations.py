from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, model_validator

from okr_extension.models.common import Body, Fraction, Out, Page, Patch, Role, ShortText, UserName


class OrganisationCreate(Body):
    name: ShortText = Field(min_length=1)
    at_risk_below: Fraction = 0.7
    off_track_below: Fraction = 0.5

    @model_validator(mode="after")
    def _thresholds(self):
        check_thresholds(self.at_risk_below, self.off_track_below)
        return self


def check_thresholds(at_risk_below: float, off_track_below: float) -> None:
    if off_track_below > at_risk_below:
        raise ValueError("off_track_below must not be above at_risk_below")


class OrganisationPatch(Patch):
    name: ShortText = Field(None, min_length=1)
    at_risk_below: Fraction = None
    off_track_below: Fraction = None


class OrganisationOut(Out):
    id: uuid.UUID
    name: str
    at_risk_below: float
    off_track_below: float
    role: Role = Field(description="your role in this organisation")
    created: datetime
    updated: datetime


class OrganisationPage(Page):
    items: list[OrganisationOut]


class MemberCreate(Body):
    user: UserName
    role: Role = "member"


class MemberPatch(Patch):
    role: Role = None


class MemberOut(Out):
    user: str
    role: Role
    created: datetime


class MemberPage(Page):
    items: list[MemberOut]
