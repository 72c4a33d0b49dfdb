"""iMIP (RFC 6047): the email an attendee outside Planerix gets for an iTIP REQUEST or CANCEL.

Built with the standard library's ``email`` package, shaped as Gmail, Outlook, Apple Mail and
Thunderbird expect: multipart/mixed holding a multipart/alternative (text/plain, then
``text/calendar; method=REQUEST``, which mail clients turn into accept/decline buttons) and the
same calendar as an ``invite.ics`` attachment (what Outlook and Gmail also look for). The plain
text carries the RSVP links (``rsvp_links``), the way back for people whose mail client does
not answer iTIP by itself. ``replies_in`` reads the other way back: the iTIP REPLY a mail
client sends when its accept button is pressed (polled from a mailbox by server/mail_replies/).
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Optional

from dateutil import rrule as dateutil_rrule
from icalendar import Calendar

from scheduling import itip
from scheduling.addresses import normalise_address

ANSWERS = {"ACCEPTED": "Accept", "TENTATIVE": "Maybe", "DECLINED": "Decline"}
# RSVP links of a series without an end stop working this long after the invitation was sent.
UNBOUNDED_RSVP_DAYS = 400
# A COUNT this large is not expanded to find the last occurrence: the bound applies.
MAX_COUNT_EXPANDED = 5000


@dataclass(frozen=True)
class Sender:
    """Who the mail comes from: the configured sender address, shown with the organizer's name;
    replies by mail go to the organizer."""
    address: str            # [email] sender, e.g. planerix@example.org
    organizer_email: str    # without mailto:
    organizer_name: str


def _email_of(address: str) -> str:
    return str(address)[7:] if str(address).lower().startswith("mailto:") else str(address)


def _as_utc(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.combine(value, time(), timezone.utc)


def _length(component) -> timedelta:
    start = component.get("DTSTART")
    end = component.get("DTEND") or component.get("DUE")
    if end is not None and start is not None:
        return max(_as_utc(end.dt) - _as_utc(start.dt), timedelta(0))
    if component.get("DURATION") is not None:
        return component.get("DURATION").dt
    return timedelta(days=1) if start is not None and not isinstance(start.dt, datetime) else timedelta(0)


def _last_start(component) -> Optional[datetime]:
    """The start of a component's last occurrence; None when the series never ends."""
    start = component.get("DTSTART")
    if start is None:
        return None
    last = _as_utc(start.dt)
    rule = component.get("RRULE")
    if rule is not None:
        if rule.get("UNTIL"):
            last = max(last, _as_utc(rule["UNTIL"][0]))
        elif rule.get("COUNT") and int(rule["COUNT"][0]) <= MAX_COUNT_EXPANDED:
            expanded = dateutil_rrule.rrulestr(rule.to_ical().decode(), dtstart=start.dt)
            last = max(last, _as_utc(list(expanded)[-1]))
        else:
            return None
    for rdates in itip._as_list(component.get("RDATE")):
        for rdate in rdates.dts:
            moment = rdate.dt[0] if isinstance(rdate.dt, tuple) else rdate.dt
            last = max(last, _as_utc(moment))
    return last


def rsvp_expiry(calendar: Calendar, now: datetime) -> datetime:
    """When answers stop being useful: the end of the last occurrence, at most
    ``UNBOUNDED_RSVP_DAYS`` after ``now`` (and that bound for a series without an end)."""
    bound = now + timedelta(days=UNBOUNDED_RSVP_DAYS)
    ends = []
    for component in itip.scheduled(calendar):
        last = _last_start(component)
        if last is None:
            return bound
        ends.append(last + _length(component))
    return min(max(ends), bound) if ends else bound


def _when(component) -> str:
    start = component.get("DTSTART")
    if start is None:
        return "(no time given)"
    value = start.dt
    if not isinstance(value, datetime):
        return value.strftime("%A %d %B %Y") + " (all day)"
    zone = (value.tzname() or "UTC") if value.tzinfo else "floating time"
    shown = value.strftime("%A %d %B %Y, %H:%M") + f" ({zone})"
    end = component.get("DTEND")
    if end is not None and isinstance(end.dt, datetime):
        shown += " – " + end.dt.strftime("%H:%M")
    if component.get("RRULE") is not None:
        shown += ", repeating"
    return shown


def describe(calendar: Calendar) -> dict[str, str]:
    """Summary, time, place and organizer of the first scheduled component (for mails and pages)."""
    component = (itip.master(calendar) or next(iter(itip.scheduled(calendar)), None))
    if component is None:
        return {"summary": "(no title)", "when": "", "location": "", "organizer": ""}
    organizer = component.get("ORGANIZER")
    name = str(organizer.params.get("CN", "")) if organizer is not None else ""
    return {"summary": str(component.get("SUMMARY", "")) or "(no title)", "when": _when(component),
            "location": str(component.get("LOCATION", "")),
            "organizer": name or (_email_of(organizer) if organizer is not None else "")}


def _text_body(method: str, facts: dict[str, str], links: dict[str, str]) -> str:
    lines = [f"{facts['organizer']} " + ("invites you to:" if method == "REQUEST" else "cancelled:"), "",
             f"  {facts['summary']}", f"  When:  {facts['when']}"]
    if facts["location"]:
        lines.append(f"  Where: {facts['location']}")
    lines.append("")
    if method == "REQUEST" and links:
        lines.append("Your calendar app may show buttons to answer. Or answer here (no account needed):")
        lines += [f"  {ANSWERS[answer]}: {url}" for answer, url in links.items()]
    elif method == "CANCEL":
        lines.append("This event no longer takes place.")
    return "\n".join(lines) + "\n"


def build(sender: Sender, recipient: str, message: Calendar, links: dict[str, str],
          now: datetime) -> EmailMessage:
    """The mail carrying one iTIP ``message`` (REQUEST or CANCEL) to ``recipient`` (mailto:)."""
    method = str(message.get("METHOD", "REQUEST")).upper()
    facts = describe(message)
    mail = EmailMessage()
    mail["Subject"] = (("Invitation: " if method == "REQUEST" else "Cancelled: ")
                       + f"{facts['summary']} @ {facts['when']}")
    mail["From"] = Address(f"{sender.organizer_name} (via Planerix)", addr_spec=sender.address)
    mail["Reply-To"] = Address(sender.organizer_name, addr_spec=sender.organizer_email)
    mail["To"] = _email_of(recipient)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=sender.address.rpartition("@")[2] or None)
    ics = message.to_ical().decode("utf-8")
    mail.set_content(_text_body(method, facts, links))
    mail.add_alternative(ics, subtype="calendar", params={"method": method})
    mail.add_attachment(ics.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics")
    return mail


def calendar_part(mail: EmailMessage) -> Optional[str]:
    """The text/calendar body part of a mail (what a receiving client reads)."""
    for part in mail.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_content()
    return None




# -- answers coming back by mail ------------------------------------------------------------
# What a REPLY component keeps when it is read from a mail: what applying it reads, and no more
# (no descriptions, attachments or X- properties of someone else's mail client reach the inbox).
REPLY_PROPERTIES = ("UID", "RECURRENCE-ID", "DTSTAMP", "SEQUENCE", "ORGANIZER")


class RefusedReply(ValueError):
    """A mail with an iTIP REPLY that is not taken (the message says why)."""


class MalformedReply(RefusedReply):
    """The REPLY cannot be read, or is not one answer of one attendee to one event."""


class ForeignReply(RefusedReply):
    """The REPLY answers for someone other than the mail's sender (From)."""


@dataclass(frozen=True)
class InboundReply:
    """One attendee's answer read from a mail, reduced to what applying it needs."""
    uid: str
    attendee: str                 # normalised mailto: (the mail's From, checked)
    organizer: Optional[str]      # normalised mailto: of the REPLY's ORGANIZER, if it names one
    recipients: tuple[str, ...]   # normalised mailto: addresses of To and Cc
    calendar: Calendar            # the REPLY, components reduced to REPLY_PROPERTIES and the ATTENDEE

    @property
    def text(self) -> str:
        return self.calendar.to_ical().decode("utf-8")

    @property
    def digest(self) -> str:
        """The same answer twice (the same mail delivered again) has the same digest."""
        return hashlib.sha256(f"{self.attendee}\n{self.text}".encode()).hexdigest()


def _addresses(mail: EmailMessage, header: str) -> list[str]:
    found = getaddresses([str(value) for value in mail.get_all(header, [])])
    return [a for _, email in found if (a := normalise_address(f"mailto:{email}")) is not None]


# Anything shaped like an address in a raw header (quoted display names included).
_ADDRESS_LIKE = re.compile(r"[^\s<>@\",;:()\[\]]+@[^\s<>@\",;:()\[\]]+")


def _sender(mail: EmailMessage) -> str:
    """The one address of the From header. Parsers disagree on odd headers (Python's reads
    ``a@x <b@y>`` as a@x, a mail client may show b@y): a From naming more than one address in
    any way, display names included, is refused rather than guessed."""
    raw = [value for name, value in mail.raw_items() if name.lower() == "from"]
    named = {normalise_address(f"mailto:{found}") for found in _ADDRESS_LIKE.findall(raw[0])} if len(raw) == 1 else set()
    parsed = _addresses(mail, "From")
    if len(named) != 1 or None in named or parsed != list(named):
        raise MalformedReply("the mail's From header does not name exactly one address")
    return parsed[0]


def _reduced_reply(part_text: str) -> tuple[str, str, Optional[str], Calendar]:
    """(uid, attendee, organizer, reduced REPLY) of one text/calendar body; MalformedReply if it
    is not exactly one attendee's answer to one event."""
    try:
        calendar = itip.parse(part_text)
    except Exception as e:  # icalendar raises ValueError and others on broken input
        raise MalformedReply(f"the calendar cannot be read: {e}") from None
    if str(calendar.get("METHOD", "")).upper() != "REPLY":
        raise MalformedReply(f"the calendar part is sent as a REPLY but its METHOD is {str(calendar.get('METHOD', ''))[:20]!r}")
    components = itip.scheduled(calendar)
    uids = {str(c.get("UID", "")) for c in components}
    if not components or len(uids) != 1 or "" in uids:
        raise MalformedReply(f"a REPLY answers one event (one UID); this one names {len(uids - {''})}")
    answerers = set()
    reduced = []
    for component in components:
        named = itip.attendees(component)
        if len(named) != 1:
            raise MalformedReply(f"each answer names exactly one ATTENDEE; one names {len(named)}")
        attendee = normalise_address(named[0])
        if attendee is None:
            raise MalformedReply(f"the ATTENDEE {str(named[0])[:80]!r} is not a mailto: address")
        answer = itip.partstat(named[0])
        if answer not in ANSWERS:
            raise MalformedReply(f"PARTSTAT {answer[:40]} is not an answer Planerix takes ({', '.join(ANSWERS)})")
        answerers.add(attendee)
        kept = type(component)()
        for name in REPLY_PROPERTIES:
            if component.get(name) is not None:
                kept.add(name, copy.deepcopy(component.get(name)))
        answered = copy.deepcopy(named[0])
        answered.params = type(answered.params)({k: v for k, v in answered.params.items()
                                                 if k.upper() in ("CN", "PARTSTAT")})
        kept.add("ATTENDEE", answered)
        reduced.append(kept)
    if len(answerers) != 1:
        raise MalformedReply("a REPLY answers for one attendee; this one for several")
    message = Calendar()
    message.add("PRODID", itip.PRODID)
    message.add("VERSION", "2.0")
    message.add("METHOD", "REPLY")
    for zone in (c for c in calendar.subcomponents if c.name == "VTIMEZONE"):
        message.add_component(copy.deepcopy(zone))
    for component in reduced:
        message.add_component(component)
    organizer = itip.organizer(calendar)
    return uids.pop(), answerers.pop(), normalise_address(organizer) if organizer is not None else None, message


def _is_reply(part) -> bool:
    if part.get_content_type() != "text/calendar":
        return False
    declared = str(part.get_param("method", "") or "").upper()
    return declared == "REPLY" or (not declared and "METHOD:REPLY" in _body(part).upper().replace(" ", ""))


def _body(part) -> str:
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError) as e:  # unknown charset, broken transfer encoding
        raise MalformedReply(f"the calendar part cannot be decoded: {e}") from None


def replies_in(mail: EmailMessage) -> list[InboundReply]:
    """The iTIP REPLYs a mail carries in its text/calendar parts (none: not an answer), each
    checked to come from its sender: ForeignReply when the ATTENDEE is not the From address
    (anyone can write an answer for someone else; only the attendee's own mail counts),
    MalformedReply when it cannot be read. Mail clients repeat the same REPLY in several parts:
    it is returned once."""
    parts = [part for part in mail.walk() if _is_reply(part)]
    if not parts:
        return []
    sender = _sender(mail)
    recipients = tuple(_addresses(mail, "To") + _addresses(mail, "Cc"))
    found: dict[str, InboundReply] = {}
    for part in parts:
        uid, attendee, organizer, calendar = _reduced_reply(_body(part))
        if attendee != sender:
            raise ForeignReply(f"the REPLY answers for {attendee[7:]} but the mail is from {sender[7:]}")
        reply = InboundReply(uid, attendee, organizer, recipients, calendar)
        found.setdefault(reply.digest, reply)
    return list(found.values())
