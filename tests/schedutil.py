"""Helpers for the scheduling tests: users with email addresses, invitations as clients send them."""
from __future__ import annotations

import secrets

import sqlalchemy as sa

from conftest import DavUser
from davutil import multistatus, propfind_body
from storage_plugin import accounts


def scheduling_user(engine, base_url, prefix="sched", display_name=None) -> DavUser:
    """A user whose email is ``<name>@example.org`` (sent in any case by the tests)."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    accounts.add(engine, name, password, email=f"{name}@Example.org", display_name=display_name)
    user = DavUser(base_url, name, password)
    user.email = f"{name}@example.org"
    return user


def share_organisation(engine, users) -> None:
    """Make ``users`` members of one new organisation: scheduling delivers only between users who
    may know of each other (the principal search's scope)."""
    with engine.begin() as conn:
        organisation = conn.execute(sa.text("INSERT INTO organisation (name) VALUES ('Team') RETURNING id")).scalar()
        for user in users:
            conn.execute(sa.text("INSERT INTO membership (organisation_id, account, role) VALUES (:o, :a, 'member')"),
                         {"o": organisation, "a": user.name})


def colleagues(engine, base_url, *prefixes) -> list[DavUser]:
    """Scheduling users, one per prefix, who share an organisation."""
    users = [scheduling_user(engine, base_url, prefix) for prefix in prefixes]
    share_organisation(engine, users)
    return users


def invitation(uid: str, organizer: DavUser, attendees, *, summary="Planning", start="20270104T100000Z",
               end="20270104T110000Z", extra="", rrule="", sequence=0, overrides="", partstats=None) -> str:
    """A VEVENT as Android's calendar (via DAVx5) writes one: ORGANIZER the account email."""
    partstats = partstats or {}
    lines = [f"ATTENDEE;CN={a.name};PARTSTAT={partstats.get(a.name, 'NEEDS-ACTION')};RSVP=TRUE:mailto:{a.email}"
             for a in attendees]
    rule = f"RRULE:{rrule}\r\n" if rrule else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//DAVx5-like//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
            f"{rule}SUMMARY:{summary}\r\nSEQUENCE:{sequence}\r\n"
            f"ORGANIZER;CN={organizer.name}:mailto:{organizer.email}\r\n"
            f"ATTENDEE;CN={organizer.name};PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer.email}\r\n"
            + "".join(line + "\r\n" for line in lines) + extra +
            "END:VEVENT\r\n" + overrides + "END:VCALENDAR\r\n")


def items(user: DavUser, collection: str) -> dict[str, str]:
    """href -> calendar data of every item of one of ``user``'s collections."""
    body = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
    response = user.report(collection, body)
    assert response.status_code == 207, response.text
    return {r.href: r.text("C:calendar-data") for r in multistatus(response.content)[0]
            if r.text("C:calendar-data") is not None}


def copy_of(user: DavUser, uid: str, collection: str = "personal/") -> str | None:
    found = [text for text in items(user, collection).values() if f"UID:{uid}" in text]
    assert len(found) <= 1, found
    return found[0] if found else None


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "").replace("\n ", "")


__all__ = ["scheduling_user", "share_organisation", "colleagues", "invitation", "items", "copy_of", "unfolded",
           "propfind_body"]
