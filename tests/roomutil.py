"""Helpers for the room tests: an organisation with an admin and members, rooms made through the
API, and invitations shaped as Thunderbird writes a room (CUTYPE=ROOM, ROLE=NON-PARTICIPANT)."""
from __future__ import annotations

import re
import secrets

import sqlalchemy as sa

from conftest import ApiUser
from schedutil import scheduling_user, unfolded


class Team:
    """An organisation with an admin and two members, as CalDAV users and API callers."""

    def __init__(self, engine, base_url: str, api_url: str, members: int = 2) -> None:
        self.admin = scheduling_user(engine, base_url, "admin")
        self.members = [scheduling_user(engine, base_url, "member") for _ in range(members)]
        with engine.begin() as conn:
            self.organisation = str(conn.execute(sa.text(
                "INSERT INTO organisation (name) VALUES ('Rooms team') RETURNING id")).scalar())
            for user, role in [(self.admin, "admin")] + [(m, "member") for m in self.members]:
                conn.execute(sa.text("INSERT INTO membership (organisation_id, account, role) "
                                     "VALUES (:o, :a, :r)"), {"o": self.organisation, "a": user.name, "r": role})
        self.api_url, self.engine, self.base_url = api_url, engine, base_url

    def api(self, user) -> ApiUser:
        return ApiUser(self.api_url, user.name, user.password)

    def room(self, **fields) -> dict:
        body = {"organisation_id": self.organisation, "name": f"Room {secrets.token_hex(2)}",
                "email": f"room-{secrets.token_hex(4)}@rooms.example", "type": "ROOM", "capacity": 8,
                "location": "Floor 4", "features": ["projector"], **fields}
        room = self.api(self.admin).ok("POST", "/api/resources", body)
        room["address"] = f"mailto:{room['email']}"
        return room


def room_invitation(uid: str, organizer, room: dict, *, start: str, end: str, rrule: str = "",
                    summary: str = "Planning", others=()) -> str:
    """A VEVENT as Thunderbird writes one with a room added in its attendee dialog."""
    rule = f"RRULE:{rrule}\r\n" if rrule else ""
    people = "".join(f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT:mailto:{o.email}\r\n"
                     for o in others)
    return ("BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\n"
            "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\n"
            "TZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
            "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
            f"BEGIN:VEVENT\r\nCREATED:20261201T090000Z\r\nLAST-MODIFIED:20261201T090000Z\r\n"
            f"DTSTAMP:20261201T090000Z\r\nUID:{uid}\r\nSUMMARY:{summary}\r\n{rule}"
            f"ORGANIZER;CN={organizer.name}:mailto:{organizer.email}\r\n"
            f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=NON-PARTICIPANT;CUTYPE=ROOM:{room['address']}\r\n"
            f"{people}DTSTART;TZID=Europe/Berlin:{start}\r\nDTEND;TZID=Europe/Berlin:{end}\r\n"
            "TRANSP:OPAQUE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def partstats(text: str, address: str) -> dict[str, str]:
    """Recurrence key ('' for the series or a single event) -> the PARTSTAT of ``address``."""
    found = {}
    for block in unfolded(text).split("BEGIN:VEVENT")[1:]:
        rid = re.search(r"^RECURRENCE-ID[^:]*:(\S+)", block, re.M)
        line = next(l for l in block.splitlines() if l.startswith("ATTENDEE") and address.lower() in l.lower())
        found[rid.group(1) if rid else ""] = re.search(r"PARTSTAT=([A-Z-]+)", line).group(1)
    return found
