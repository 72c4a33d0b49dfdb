"""Deterministic, seeded iCalendar generator for the benchmark datasets.

A calendar of size N is made of

* the *answer set*: ``ANSWER_COUNT`` VEVENTs that overlap the target week
  (singles, all-day events, weekly-with-COUNT series and a few unbounded
  weekly series that started before the week), and
* ``N - ANSWER_COUNT`` *background* items whose whole occurrence span stays
  away from the target week (with a two-day margin, so time zones cannot
  move them in): ~20% weekly recurring with COUNT, ~5% unbounded RRULE
  (yearly outside March, monthly on days 20-28, weekly starting after the
  week), ~10% VTODO with DUE, the rest single events (some all-day).

So the one-week time-range query returns the same ~100 hrefs at every N,
and the "answer-only" calendar (only the answer set) is the ideal
size-independent baseline.  Item ``i`` is generated from its own seeded RNG,
so growing a calendar from N1 to N2 only adds items ``N1 .. N2``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

SEED = 20250310
ANSWER_COUNT = 100
WEEK_START = datetime(2025, 3, 10, tzinfo=timezone.utc)
WEEK_END = WEEK_START + timedelta(days=7)
_MARGIN = timedelta(days=2)
_ZONE = (WEEK_START - _MARGIN, WEEK_END + _MARGIN)
_TIMELINE = (datetime(2016, 1, 4, tzinfo=timezone.utc), datetime(2031, 12, 29, tzinfo=timezone.utc))
DTSTAMP = "20240101T000000Z"

_WORDS = (
    "team sync review planning budget quarterly roadmap design customer call "
    "dentist lunch dinner project kickoff retro standup interview onboarding "
    "workshop training offsite launch release demo board meeting yoga gym "
    "school pickup flight hotel conference keynote deadline invoice tax report "
    "architecture migration database backup security audit hiring partner "
    "marketing sales forecast strategy one-on-one feedback coffee brainstorm"
).split()

_VTIMEZONE_BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


@dataclass(frozen=True)
class Item:
    uid: str
    ics: str
    kind: str  # event | allday | weekly | unbounded | todo

    @property
    def name(self) -> str:
        return f"{self.uid}.ics"


def _fold(line: str) -> str:
    """RFC 5545 line folding at 75 octets (ASCII content only)."""
    if len(line) <= 75:
        return line + "\r\n"
    parts = [line[:75]]
    rest = line[75:]
    while rest:
        parts.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(parts) + "\r\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def _summary(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))).capitalize()


def _description(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.4:
        return None
    n = rng.randint(1, 6) if r < 0.9 else rng.randint(12, 25)  # 10% long notes (1-2 KB)
    return " ".join(_sentence(rng) for _ in range(n))


def _fmt_utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _dt_props(rng: random.Random, start: datetime, dur: timedelta, allday: bool) -> tuple[list[str], bool]:
    """DTSTART/DTEND lines; returns (lines, needs_vtimezone)."""
    if allday:
        d0: date = start.date()
        d1 = d0 + timedelta(days=max(1, dur.days))
        return [f"DTSTART;VALUE=DATE:{d0:%Y%m%d}", f"DTEND;VALUE=DATE:{d1:%Y%m%d}"], False
    if rng.random() < 0.3:  # floating wall time in Europe/Berlin, with VTIMEZONE
        local = start.replace(tzinfo=None)
        return [
            f"DTSTART;TZID=Europe/Berlin:{local:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=Europe/Berlin:{(local + dur):%Y%m%dT%H%M%S}",
        ], True
    return [f"DTSTART:{_fmt_utc(start)}", f"DTEND:{_fmt_utc(start + dur)}"], False


def _common(rng: random.Random, uid: str, extra: list[str] | None = None) -> list[str]:
    lines = [f"UID:{uid}", f"DTSTAMP:{DTSTAMP}", f"SUMMARY:{_esc(_summary(rng))}"]
    desc = _description(rng)
    if desc:
        lines.append(f"DESCRIPTION:{_esc(desc)}")
    if rng.random() < 0.3:
        lines.append(f"LOCATION:{_esc(_summary(rng))}")
    lines.extend(extra or [])
    return lines


def _alarm(rng: random.Random) -> list[str]:
    if rng.random() < 0.3:
        return ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M", "END:VALARM"]
    return []


def _wrap(component: list[str], tz: bool) -> str:
    out = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Planerix//bench//EN\r\n"
    if tz:
        out += _VTIMEZONE_BERLIN
    return out + "".join(_fold(line) for line in component) + "END:VCALENDAR\r\n"


def _event(rng, uid, start, dur, *, allday=False, rrule=None, extra=None) -> str:
    dt_lines, tz = _dt_props(rng, start, dur, allday)
    body = ["BEGIN:VEVENT", *_common(rng, uid, extra), *dt_lines]
    if rrule:
        body.append(f"RRULE:{rrule}")
    body += _alarm(rng) + ["END:VEVENT"]
    return _wrap(body, tz)


def _todo(rng, uid, due: datetime, extra=None) -> str:
    body = ["BEGIN:VTODO", *_common(rng, uid, extra), f"DUE:{_fmt_utc(due)}",
            "STATUS:NEEDS-ACTION", f"PRIORITY:{rng.randint(0, 9)}", "END:VTODO"]
    return _wrap(body, False)


def _rng(stream: str, i: int) -> random.Random:
    return random.Random(f"{SEED}:{stream}:{i}")


def _outside_zone(rng: random.Random, span: timedelta, lo=None, hi=None) -> datetime:
    """A start time (on a 15-minute grid) whose [start, start+span] misses the zone."""
    lo = lo or _TIMELINE[0]
    hi = hi or _TIMELINE[1]
    while True:
        secs = rng.randrange(int((hi - lo).total_seconds()) // 900) * 900
        start = lo + timedelta(seconds=secs)
        if start + span < _ZONE[0] or start > _ZONE[1]:
            return start


def _duration(rng: random.Random) -> timedelta:
    return timedelta(minutes=rng.choice((15, 30, 30, 45, 60, 60, 60, 90, 120, 180)))


def background_item(i: int, uid: str | None = None, extra: list[str] | None = None) -> Item:
    """Item number ``i`` of the background (never in the target week)."""
    rng = _rng("bg", i)
    uid = uid or f"bg-{i:07d}"
    r = rng.random()
    dur = _duration(rng)
    if r < 0.10:
        due = _outside_zone(rng, timedelta(0))
        return Item(uid, _todo(rng, uid, due, extra), "todo")
    if r < 0.30:
        count = rng.randint(2, 30)
        start = _outside_zone(rng, timedelta(weeks=count - 1) + dur)
        return Item(uid, _event(rng, uid, start, dur, rrule=f"FREQ=WEEKLY;COUNT={count}", extra=extra), "weekly")
    if r < 0.35:
        kind = rng.random()
        if kind < 0.4:  # yearly (birthdays, anniversaries) outside March
            start = _outside_zone(rng, timedelta(days=1))
            start = start.replace(month=rng.choice([m for m in range(1, 13) if m != 3]), day=rng.randint(1, 28))
            return Item(uid, _event(rng, uid, start, timedelta(days=1), allday=True,
                                    rrule="FREQ=YEARLY", extra=extra), "unbounded")
        if kind < 0.7:  # monthly on day 20-28 (the zone spans the 8th-19th)
            start = _outside_zone(rng, dur).replace(day=rng.randint(20, 28))
            return Item(uid, _event(rng, uid, start, dur, rrule="FREQ=MONTHLY", extra=extra), "unbounded")
        start = _outside_zone(rng, dur, lo=_ZONE[1] + timedelta(days=1))  # weekly, starts after the week
        return Item(uid, _event(rng, uid, start, dur, rrule="FREQ=WEEKLY", extra=extra), "unbounded")
    allday = rng.random() < 0.05
    start = _outside_zone(rng, timedelta(days=1) if allday else dur)
    return Item(uid, _event(rng, uid, start, dur, allday=allday, extra=extra), "allday" if allday else "event")


def answer_item(j: int) -> Item:
    """Item ``j`` (0 <= j < ANSWER_COUNT) of the answer set: overlaps the target week."""
    rng = _rng("ans", j)
    uid = f"ans-{j:04d}"
    dur = _duration(rng)
    in_week = WEEK_START + timedelta(hours=rng.randrange(7 * 24 - 4) + 1, minutes=rng.choice((0, 15, 30, 45)))
    if j < 70:
        return Item(uid, _event(rng, uid, in_week, dur), "event")
    if j < 75:
        return Item(uid, _event(rng, uid, in_week, timedelta(days=1), allday=True), "allday")
    if j < 95:  # weekly series with COUNT that has an occurrence inside the week
        before = rng.randint(1, 10)
        count = before + rng.randint(1, 10)
        return Item(uid, _event(rng, uid, in_week - timedelta(weeks=before), dur,
                                rrule=f"FREQ=WEEKLY;COUNT={count}"), "weekly")
    return Item(uid, _event(rng, uid, in_week - timedelta(weeks=rng.randint(5, 60)), dur,
                            rrule="FREQ=WEEKLY"), "unbounded")


def answer_items() -> list[Item]:
    return [answer_item(j) for j in range(ANSWER_COUNT)]


def calendar_items(start: int, stop: int) -> list[Item]:
    """Items ``start .. stop-1`` of the big calendar: the answer set first, then background."""
    out = []
    for k in range(start, stop):
        out.append(answer_item(k) if k < ANSWER_COUNT else background_item(k - ANSWER_COUNT))
    return out


def fresh_item(uid: str, seq: int, marker: str | None = None) -> Item:
    """A new background-like item with a given UID (PUT-rate and concurrent creations)."""
    extra = [f"X-BENCH-WRITE:{marker}"] if marker else None
    return background_item(10_000_000 + seq, uid=uid, extra=extra)


def home_item(cal: int, k: int) -> Item:
    return background_item(20_000_000 + cal * 1000 + k, uid=f"home-{cal:02d}-{k:03d}")


def rewrite(item: Item, marker: str) -> str:
    """The item's text with a unique ``X-BENCH-WRITE`` marker (a modification)."""
    head, sep, tail = item.ics.partition("DTSTAMP:")
    return f"{head}X-BENCH-WRITE:{marker}\r\n{sep}{tail}"


def week_range() -> tuple[str, str]:
    return _fmt_utc(WEEK_START), _fmt_utc(WEEK_END)


# -- the dense calendar (bench.reads): DENSE_COUNT events in the target week ----------
DENSE_COUNT = 1000


def dense_item(j: int) -> Item:
    """Item ``j`` (0 <= j < DENSE_COUNT) of the dense week: singles, one in ten a weekly series."""
    rng = _rng("dense", j)
    uid = f"dense-{j:05d}"
    dur = _duration(rng)
    in_week = WEEK_START + timedelta(hours=rng.randrange(7 * 24 - 4) + 1, minutes=rng.choice((0, 15, 30, 45)))
    if j % 10 == 9:
        before = rng.randint(1, 10)
        return Item(uid, _event(rng, uid, in_week - timedelta(weeks=before), dur,
                                rrule=f"FREQ=WEEKLY;COUNT={before + rng.randint(1, 10)}"), "weekly")
    return Item(uid, _event(rng, uid, in_week, dur), "event")


def dense_calendar_items(start: int, stop: int) -> list[Item]:
    """Items ``start .. stop-1`` of the dense calendar: the week's events first, then background."""
    return [dense_item(k) if k < DENSE_COUNT else background_item(k - DENSE_COUNT) for k in range(start, stop)]
