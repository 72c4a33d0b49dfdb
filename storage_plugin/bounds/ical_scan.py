"""A linear pass over an iCalendar text before a parser sees it.

vobject's cost grows with the square of a property's folded lines (a value
folded over 40,000 lines takes ten seconds to read) and by about 0.1 ms per
line otherwise, so a body is refused up front when it has more physical lines
than ``max_lines`` or a property folded over more than ``max_folded_lines``.
The recurrence rules (RRULE, EXRULE, in every component, time zones included)
are checked on the way (``recurrence.check_rule``). One pass, no backtracking:
the cost of the check is linear in the size of the body.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from storage_plugin.bounds import recurrence

RULE_PROPERTIES = ("RRULE", "EXRULE")
MEMBER_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


@dataclass(frozen=True)
class TextLimits:
    max_lines: int = 100_000
    max_folded_lines: int = 10_000
    max_count: int = 0  # largest COUNT of a rule (0: no limit)
    check_rules: bool = True  # False: lines only (a whole feed, whose objects are checked one by one)


class TextRefused(ValueError):
    """The text is refused before parsing; the message says why. ``rule`` tells a refused
    recurrence rule (the object is invalid) from a text that is too long to read."""

    def __init__(self, reason: str, rule: bool = False) -> None:
        super().__init__(reason)
        self.rule = rule


def _property_name(line: str) -> str:
    end = len(line)
    for separator in (";", ":"):
        found = line.find(separator, 0, end)
        if found >= 0:
            end = found
    return line[:end].strip().upper()


def check_text(text: Union[str, bytes], limits: TextLimits) -> int:
    """``TextRefused`` if ``text`` exceeds ``limits`` or holds a rule that ``check_rule`` refuses;
    else the number of components it holds (VEVENT, VTODO, VJOURNAL: a measure of its work)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(lines) > limits.max_lines:
        raise TextRefused(f"the iCalendar text has {len(lines)} lines; at most {limits.max_lines} "
                          "are accepted")
    name, folded, rule, components = "", 0, None, 0
    for line in lines:
        if line[:1] in (" ", "\t"):
            folded += 1
            if folded > limits.max_folded_lines:
                raise TextRefused(f"the property {name or '(unnamed)'} is folded over more than "
                                  f"{limits.max_folded_lines} lines; at most {limits.max_folded_lines} "
                                  "are accepted")
            if rule is not None:
                rule.append(line[1:].rstrip("\r"))
            continue
        _check_rule(name, rule, limits)
        name, folded = _property_name(line), 0
        rule = [line.rstrip("\r")] if limits.check_rules and name in RULE_PROPERTIES else None
        if name == "BEGIN" and line.partition(":")[2].strip().upper() in MEMBER_COMPONENTS:
            components += 1
    _check_rule(name, rule, limits)
    return components


def _check_rule(name: str, pieces: list[str] | None, limits: TextLimits) -> None:
    if pieces is None:
        return
    logical = "".join(pieces)
    _, _, value = logical.partition(":")
    try:
        recurrence.check_rule(value, limits.max_count)
    except recurrence.RuleRefused as e:
        raise TextRefused(f"{name}:{value[:200]} is refused: {e}", rule=True) from None
