"""What CalDAV answers about calendars shared with the user (storage_plugin.sharing).

Radicale's map sharing leaves ``DAV:owner`` of a shared calendar empty and refuses a write
through a read share with a bare 403; clients show the owner and people need the reason. Its
reads of a shared calendar take Radicale's generic path: the usual REPORTs take the fast one.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from http import client
from typing import Optional
from urllib.parse import quote, unquote

from radicale import pathutils, xmlutils

from server import fast_listing
from server import fast_report as fast_report_module
from storage_plugin import request_state
from storage_plugin.sharing.access import access_of, mount_name, mount_of

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


def properties_refusal(storage, user: str, path: str) -> Optional[request_state.Rejection]:
    """Why a PROPPATCH of another user's calendar ``path`` (its own path, not a mount) shared with
    ``user`` for read-write was refused (403), or None: its properties are the owner's."""
    stripped = pathutils.strip_path(pathutils.sanitize_path(path))
    parts = stripped.split("/")
    if not user or len(parts) != 2 or parts[0] == user:
        return None
    with storage.connection() as conn:
        if access_of(conn, user, stripped) != "read-write":
            return None
    return request_state.Rejection(
        client.FORBIDDEN, "D:need-privileges",
        f"/{stripped}/ is {parts[0]}'s calendar: with read-write access you change its items only, not its "
        f"properties; rename or recolour your own view of it at /{user}/{mount_name(stripped)}/")


# -- reads of a shared calendar on the fast paths ----------------------------------
_FAST_SHARED_REPORTS = {xmlutils.make_clark("C:calendar-query"), xmlutils.make_clark("D:sync-collection")}


def _rebase(chunks: list[bytes], encoding: str, old: str, new: str) -> list[bytes]:
    """``chunks`` with every DAV:href under ``old`` (a URL path) moved under ``new``. Chunks end
    between members' responses: no href is cut by one."""
    pattern = re.compile(rb"(<(?:[A-Za-z][\w.-]*:)?href>)" + re.escape(quote(old).encode(encoding)))
    replacement = quote(new).encode(encoding)
    return [pattern.sub(lambda match: match.group(1) + replacement, chunk) for chunk in chunks]


def fast_report(app, environ, base_prefix: str, path: str, user: str, user_groups: set, request_info: dict):
    """A calendar-query or sync-collection of a calendar shared with ``user`` for reading, answered
    by ``server.fast_report`` on the owner's calendar (as the owner, the request having been
    authorised by the share) with its hrefs moved back under the mount; None for anything else."""
    if not app._sharing._enabled or mount_of(path, user) is None:
        return None
    parsed, xml_request = fast_listing._read_body(app, environ, request_info)
    if not parsed or xml_request is None or xml_request.tag not in _FAST_SHARED_REPORTS:
        return None
    # One read transaction for the share's resolution and the answer.
    with app._storage.acquire_lock("r", user):
        share = app._sharing.sharing_collection_resolver(path, user, user_groups)
        if share is None or "r" not in share["Permissions"] or not share["PathMapped"].endswith("/"):
            return None
        old, new = base_prefix + share["PathMapped"], base_prefix + share["PathOrToken"]
        view = fast_report_module.View(user, path, lambda chunks: _rebase(chunks, app._encoding, old, new))
        answer = fast_report_module.report(app, environ, base_prefix, share["PathMapped"], share["Owner"], set(),
                                           request_info, view)
    if answer is None or answer[0] != client.MULTI_STATUS:
        return None
    return answer


def is_home_listing(environ, path: str) -> bool:
    """A Depth-1 PROPFIND of a user's home, which lists the calendars shared with them."""
    return environ.get("HTTP_DEPTH", "0") == "1" and pathutils.strip_path(path).count("/") == 0 and path != "/"
