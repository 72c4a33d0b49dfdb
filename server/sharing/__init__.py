"""What CalDAV answers about calendars shared with the user (storage_plugin.sharing).

Radicale's map sharing leaves ``DAV:owner`` of a shared calendar empty and refuses a write
through a read share with a bare 403; clients show the owner and people need the reason.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from http import client
from typing import Optional
from urllib.parse import unquote

from radicale import pathutils, xmlutils

from storage_plugin import request_state

_RESPONSE = xmlutils.make_clark("D:response")
_HREF = xmlutils.make_clark("D:href")
_OWNER = xmlutils.make_clark("D:owner")


def _share_of(href_path: str, shares: dict) -> Optional[tuple[str, str, str]]:
    """(mount, owner, access) of the shared calendar ``href_path`` is, or is in."""
    for mount, (owner, access) in shares.items():
        if (href_path + "/").startswith(mount):
            return mount, owner, access
    return None


def name_owners(multistatus: ET.Element, base_prefix: str) -> None:
    """``DAV:owner`` of each shared calendar in the answer names its real owner."""
    state = request_state.current()
    if state is None or not state.shares_seen:
        return
    for response in multistatus.iter(_RESPONSE):
        href = response.find(_HREF)
        if href is None or not href.text:
            continue
        path = unquote(href.text)[len(base_prefix):]
        found = _share_of(path, state.shares_seen)
        if found is None:
            continue
        for owner in response.iter(_OWNER):
            if owner.find(_HREF) is None:
                ET.SubElement(owner, _HREF).text = xmlutils.make_href(base_prefix, f"/{found[1]}/")


def refusal(path: str) -> Optional[request_state.Rejection]:
    """Why a write to ``path`` through a share was refused (403), or None if it was not one."""
    state = request_state.current()
    if state is None:
        return None
    found = _share_of(pathutils.sanitize_path(path) + ("/" if path.endswith("/") else ""),
                      state.shares_seen)
    if found is None or found[2] == "read-write":
        return None
    mount, owner, access = found
    return request_state.Rejection(
        client.FORBIDDEN, "D:need-privileges",
        f"{mount} is {owner}'s calendar, shared with you for {access} only: ask {owner} for "
        "read-write access to change it")
