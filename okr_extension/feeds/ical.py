"""iCalendar at the level of content lines: enough to assemble a feed from stored texts.

Stored calendar objects were parsed and serialized once, when written; here
they are only cut into content lines and components, never parsed into
objects, so a feed of thousands of items is assembled in milliseconds. Lines
that are copied unchanged keep their original folding.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Iterator, Optional

CRLF = "\r\n"
_LINE_BREAK = re.compile(r"\r?\n")
# A line break that ends a content line (not one followed by a folding space or tab).
_LINE_END = re.compile(r"\r\n(?![ \t])")
_FOLD = re.compile(r"\r\n[ \t]")
_NAME_END = re.compile(r"[;:]")


@dataclass
class Line:
    raw: str  # as stored, with its folding (no final CRLF)

    @functools.cached_property
    def logical(self) -> str:
        return _FOLD.sub("", self.raw)

    @functools.cached_property
    def name(self) -> str:
        match = _NAME_END.search(self.logical)
        return (self.logical[:match.start()] if match else self.logical).upper()

    def params(self) -> dict[str, str]:
        """Parameters of the line (upper-case names; values unquoted)."""
        logical = self.logical
        found: dict[str, str] = {}
        i = len(self.name)
        while i < len(logical) and logical[i] == ";":
            j = i + 1
            key_end = logical.find("=", j)
            if key_end < 0:
                break
            key = logical[j:key_end].upper()
            k = key_end + 1
            value = []
            while k < len(logical) and logical[k] not in ";:":
                if logical[k] == '"':
                    close = logical.find('"', k + 1)
                    close = len(logical) if close < 0 else close
                    value.append(logical[k + 1:close])
                    k = close + 1
                else:
                    start = k
                    while k < len(logical) and logical[k] not in ';:"':
                        k += 1
                    value.append(logical[start:k])
            found[key] = "".join(value)
            i = k
        return found


@dataclass
class Component:
    name: str
    lines: list[Line] = field(default_factory=list)  # BEGIN … END, nested components included

    def properties(self) -> Iterator[Line]:
        """The component's own property lines (not those of nested components, not BEGIN/END)."""
        depth = 0
        for line in self.lines[1:-1]:
            if line.name == "BEGIN":
                depth += 1
            elif line.name == "END":
                depth -= 1
            elif depth == 0:
                yield line

    def value_of(self, name: str) -> Optional[str]:
        for line in self.properties():
            if line.name == name:
                return line.logical.split(":", 1)[1] if ":" in line.logical else ""
        return None

    def tzids(self) -> set[str]:
        found = set()
        for line in self.lines:
            if ";" in line.logical[:len(line.name) + 1]:
                tzid = line.params().get("TZID")
                if tzid:
                    found.add(tzid)
        return found

    def raw(self) -> str:
        return CRLF.join(line.raw for line in self.lines) + CRLF


def lines_of(text: str) -> list[Line]:
    text = _LINE_BREAK.sub(CRLF, text)
    return [Line(raw) for raw in _LINE_END.split(text) if raw.strip()]


def components_of(text: str) -> list[Component]:
    """The components directly inside the VCALENDAR of a stored calendar object, in order."""
    found: list[Component] = []
    current: Optional[Component] = None
    depth = 0
    for line in lines_of(text):
        if line.name == "BEGIN":
            depth += 1
            if depth == 2:
                current = Component(line.logical.split(":", 1)[1].strip().upper())
        if current is not None:
            current.lines.append(line)
        if line.name == "END":
            if depth == 2 and current is not None:
                found.append(current)
                current = None
            depth -= 1
    return found


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """One content line folded at 75 octets (never inside a UTF-8 sequence), with CRLF."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line + CRLF
    parts, current, size, limit = [], [], 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, 74  # continuation lines start with a space
        current.append(char)
        size += width
    parts.append("".join(current))
    return (CRLF + " ").join(parts) + CRLF


@functools.lru_cache(maxsize=256)
def vtimezone_for(tzid: str) -> Optional[str]:
    """A VTIMEZONE for an IANA zone name that no stored item defines, or None."""
    try:
        import icalendar

        return icalendar.Timezone.from_tzid(tzid).to_ical().decode("utf-8").replace("\r\n", "\n") \
            .replace("\n", CRLF)
    except Exception:  # not an IANA name: clients resolve it themselves or fall back
        return None
