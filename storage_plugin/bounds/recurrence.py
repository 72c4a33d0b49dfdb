"""Recurrence rules checked before anything expands them (RFC 5545 §3.3.10).

dateutil expands whatever it is given: ``INTERVAL=0`` never advances (the
expansion loops forever), and a rule whose BY* parts exclude each other
(``BYMONTH=2;BYMONTHDAY=30``) is searched to the year 9999 for a first
occurrence. ``check_rule`` refuses both, and every part out of its range, with
a reason a person can act on. What it cannot prove (rarer combinations) the
expansion budget (``budget``) still ends.
"""
from __future__ import annotations

import re

FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_INTERVAL = 1_000_000
# dateutil cannot represent a date after the year 9999.
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$")
_BYDAY = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INTEGER = re.compile(r"^[+-]?\d{1,6}$")
# Longest month in days, by month number (February counts its leap day).
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
# Allowed values of the numeric BY* parts: (lowest, highest, zero allowed).
_RANGES = {
    "BYSECOND": (0, 60, True), "BYMINUTE": (0, 59, True), "BYHOUR": (0, 23, True),
    "BYMONTHDAY": (-31, 31, False), "BYYEARDAY": (-366, 366, False), "BYWEEKNO": (-53, 53, False),
    "BYMONTH": (1, 12, False), "BYSETPOS": (-366, 366, False),
}


class RuleRefused(ValueError):
    """A recurrence rule that cannot be expanded in bounded time; the message says why."""


def _integers(name: str, value: str) -> list[int]:
    low, high, zero = _RANGES[name]
    numbers = []
    for piece in value.split(","):
        if not _INTEGER.match(piece.strip()):
            raise RuleRefused(f"{name}={value} is not a list of integers")
        number = int(piece)
        if not low <= number <= high or (number == 0 and not zero):
            allowed = f"{low} to {high}" + ("" if zero else ", not 0")
            raise RuleRefused(f"{name}={value}: each value must be {allowed}")
        numbers.append(number)
    return numbers


def parse(rule: str) -> dict[str, str]:
    """The parts of a rule (``FREQ=WEEKLY;INTERVAL=2`` → {"FREQ": "WEEKLY", ...}), names upper-cased."""
    parts: dict[str, str] = {}
    for piece in rule.strip().split(";"):
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        name = name.strip().upper()
        if not sep:
            raise RuleRefused(f"{piece!r} is not NAME=VALUE")
        if name in parts:
            raise RuleRefused(f"{name} appears twice")
        parts[name] = value.strip().upper()
    return parts


def check_rule(rule: str, max_count: int = 0) -> None:
    """Refuse a rule that is malformed, never advances or can be shown never to occur.

    ``max_count`` (> 0) bounds COUNT, as Radicale's ``max_vevent_rrule_occurrence`` does."""
    parts = parse(rule)
    freq = parts.get("FREQ")
    if freq not in FREQUENCIES:
        raise RuleRefused(f"FREQ must be one of {', '.join(FREQUENCIES)}, got {freq!r}")
    if "INTERVAL" in parts:
        interval = parts["INTERVAL"]
        if not interval.isdigit() or not 1 <= int(interval) <= MAX_INTERVAL:
            raise RuleRefused(f"INTERVAL={interval}: it must be a whole number from 1 to {MAX_INTERVAL} "
                              "(an interval of 0 never advances)")
    if "COUNT" in parts:
        count = parts["COUNT"]
        if not count.isdigit() or int(count) < 1:
            raise RuleRefused(f"COUNT={count}: it must be a whole number of at least 1")
        if max_count > 0 and int(count) > max_count:
            raise RuleRefused(f"COUNT={count}: at most {max_count} occurrences are allowed")
    if "UNTIL" in parts:
        match = _UNTIL.match(parts["UNTIL"])
        if not match or not 1 <= int(match.group(2)) <= 12 or not 1 <= int(match.group(3)) <= 31 \
                or int(match.group(1)) < 1:
            raise RuleRefused(f"UNTIL={parts['UNTIL']} is not a date or date-time")
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        raise RuleRefused(f"WKST={parts['WKST']}: it must be one of {', '.join(WEEKDAYS)}")
    numbers = {name: _integers(name, parts[name]) for name in _RANGES if name in parts}
    if "BYDAY" in parts:
        _check_byday(parts["BYDAY"])
    _check_satisfiable(numbers)


def _check_byday(value: str) -> None:
    # Which combinations of FREQ and BY* parts RFC 5545 allows is left to the parser, as before:
    # they cost nothing to expand. Ranges are checked because dateutil would search forever.
    for piece in value.split(","):
        match = _BYDAY.match(piece.strip())
        if not match:
            raise RuleRefused(f"BYDAY={value}: {piece!r} is not a weekday like MO, 2TU or -1FR")
        if match.group(2) is not None and not 1 <= int(match.group(2)) <= 53:
            raise RuleRefused(f"BYDAY={value}: the number of {piece} must be 1 to 53 (or -1 to -53)")


def _check_satisfiable(numbers: dict[str, list[int]]) -> None:
    """Refuse BY* parts that exclude each other, so that no occurrence can ever exist."""
    months = numbers.get("BYMONTH") or list(range(1, 13))
    days = numbers.get("BYMONTHDAY")
    if days and not any(abs(day) <= _MONTH_DAYS[month] for month in months for day in days):
        named = ",".join(map(str, numbers.get("BYMONTH", [])))
        raise RuleRefused(f"BYMONTHDAY={','.join(map(str, days))}"
                          + (f" never falls in BYMONTH={named}" if named else " never occurs")
                          + ": the rule has no occurrence")
    yeardays = numbers.get("BYYEARDAY")
    if yeardays and "BYMONTH" in numbers:
        # Day numbers of each month's days in a common and in a leap year, from the start and the end.
        def possible(month: int) -> set[int]:
            found = set()
            for leap in (0, 1):
                lengths = [31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
                first = sum(lengths[:month - 1]) + 1
                year_length = 365 + leap
                for day in range(first, first + lengths[month - 1]):
                    found.update((day, day - year_length - 1))
            return found
        reachable = set().union(*(possible(m) for m in numbers["BYMONTH"]))
        if not reachable.intersection(yeardays):
            raise RuleRefused(f"BYYEARDAY={','.join(map(str, yeardays))} never falls in "
                              f"BYMONTH={','.join(map(str, numbers['BYMONTH']))}: the rule has no occurrence")
