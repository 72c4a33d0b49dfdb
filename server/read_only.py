"""Read-only (subscribed) calendars advertise no write privileges.

Radicale derives ``DAV:current-user-privilege-set`` from the rights plugin
alone, which grants an owner write access to all of their calendars. Clients
such as Thunderbird and Apple Calendar mark a calendar read-only only when that
set lacks the write privileges, so PROPFIND answers about a calendar the
storage reported as read-only (or about its items) lose them here; the storage
still refuses the writes themselves (403 ``DAV:need-privileges``). The calendar keeps
``DAV:write-properties``: its subscriber may rename, recolour and reorder it.
"""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from radicale import xmlutils

WRITE_PRIVILEGES = frozenset(xmlutils.make_clark(tag) for tag in (
    "D:all", "D:write", "D:write-content", "D:write-properties", "D:bind", "D:unbind"))
_RESPONSE = xmlutils.make_clark("D:response")
_HREF = xmlutils.make_clark("D:href")
_PRIVILEGE_SET = xmlutils.make_clark("D:current-user-privilege-set")
_PRIVILEGE = xmlutils.make_clark("D:privilege")
_WRITE_PROPERTIES = xmlutils.make_clark("D:write-properties")


def _read_only_kind(href: str, read_only_paths: set[str]) -> str | None:
    """Whether the href is a read-only calendar ("calendar"), one of its items ("item"), or neither."""
    path = unquote(href).rstrip("/")
    parent = posixpath.dirname(path)

    # Hrefs carry the base prefix (if any) before the storage path.
    def matches(candidate: str) -> bool:
        return any(candidate == "/" + p or candidate.endswith("/" + p) for p in read_only_paths)

    return "calendar" if matches(path) else "item" if matches(parent) else None


def strip_write_privileges(multistatus: ET.Element, read_only_paths: set[str]) -> None:
    for response in multistatus.iter(_RESPONSE):
        href = response.find(_HREF)
        kind = _read_only_kind(href.text, read_only_paths) if href is not None and href.text else None
        if kind is None:
            continue
        for privilege_set in response.iter(_PRIVILEGE_SET):
            removed = False
            for privilege in list(privilege_set.findall(_PRIVILEGE)):
                if any(child.tag in WRITE_PRIVILEGES for child in privilege):
                    privilege_set.remove(privilege)
                    removed = True
            if removed and kind == "calendar":
                # Its look (name, colour, order) stays the subscriber's own: see PRESENTATION_PROPS.
                ET.SubElement(ET.SubElement(privilege_set, _PRIVILEGE), _WRITE_PROPERTIES)
