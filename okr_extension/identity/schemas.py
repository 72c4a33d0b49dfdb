from __future__ import annotations

from typing import Literal

from pydantic import Field

from okr_extension.models.common import Out, Patch, ShortText, _text

Email = _text(min_length=3, max_length=254)


class IdentityPatch(Patch):
    email: Email = Field(None, description="your email address: the ORGANIZER and ATTENDEE address "
                                           "of your invitations; unique, compared case-insensitively")
    display_name: ShortText | None = Field(None, description="your full name, shown to attendees and "
                                                             "in principal search; null clears it")


class IdentityOut(Out):
    name: str = Field(description="the account (login) name")
    display_name: str | None
    email: str | None = Field(description="the preferred address, without 'mailto:'")
    addresses: list[str] = Field(description="calendar-user-address-set: the mailto: addresses, "
                                             "preferred first, then the principal URL")
    calendar_user_type: Literal["INDIVIDUAL", "ROOM", "RESOURCE", "GROUP"]
    default_calendar: str | None = Field(description="the calendar invitations are delivered into "
                                                     "(schedule-default-calendar-URL)")
