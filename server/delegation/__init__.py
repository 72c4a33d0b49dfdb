"""Delegation over CalDAV: CalendarServer's calendar-proxy (storage_plugin.sharing.delegation).

Every user ``/<user>/`` has two group principals, ``/<user>/calendar-proxy-read/`` and
``/<user>/calendar-proxy-write/``, whose ``DAV:group-member-set`` are the user's read and write
proxies; the owner sets them with PROPPATCH, as Apple Calendar's Delegation tab does. A proxy's own
principal shows ``CS:calendar-proxy-read-for`` / ``-write-for`` and ``DAV:group-membership``
(``server.scheduling.principal``): DAVx5 follows them into the delegator's home, Apple expands them
with the ``DAV:expand-property`` REPORT (RFC 3253 §3.8) answered here. What a proxy may then do in
the delegator's home is the rights component's decision (``storage_plugin.sharing.access``).

The group principals are not collections of the storage: they are answered here, never listed in
the home (no client looks for them there), and nothing can be created at their paths.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from http import client
from typing import Optional, Union
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from radicale import httputils, pathutils, xmlutils
from radicale.app.base import ApplicationBase

from server import fast_listing
from server.scheduling import principal as props
from server.scheduling.principal import clark
from storage_plugin import directory, request_state
from storage_plugin.sharing import delegation
from storage_plugin.sharing.access import access_of

EXPAND_PROPERTY = clark("D:expand-property")
GROUP_MEMBER_SET = clark("D:group-member-set")
_PROPERTY, _HREF, _PROP = clark("D:property"), clark("D:href"), clark("D:prop")
# Advertised in the DAV header (CalendarServer's name; Apple looks for it).
DAV_FEATURE = "calendar-proxy"
# An expand-property asks for at most this many properties in all (its nesting is bounded by the
# XML guard's depth): each may name a principal, and each expansion reads one.
MAX_EXPANDED = 200


class BadRequest(ValueError):
    """A request a client must correct (400 with this reason)."""


class _Group:
    """A proxy group principal: ``owner``'s proxies of ``access``."""

    def __init__(self, owner: str, access: str, members: list[str]) -> None:
        self.owner, self.access, self.members = owner, access, members
        self.path = delegation.group_path(owner, access)


Target = Union[props.Principal, _Group]


def _href(base_prefix: str, path: str) -> str:
    return xmlutils.make_href(base_prefix, f"/{path.strip('/')}/")


def _hrefs(tag: str, paths, base_prefix: str) -> ET.Element:
    element = ET.Element(tag)
    for path in paths:
        ET.SubElement(element, _HREF).text = _href(base_prefix, path)
    return element


def _privileges(names) -> ET.Element:
    element = ET.Element(props.PRIVILEGES)
    for name in names:
        ET.SubElement(ET.SubElement(element, clark("D:privilege")), clark(name))
    return element


# What a group principal answers (as Sabre's ProxyRead/ProxyWrite and CalendarServer's do).
GROUP_PROPS = (props.RESOURCETYPE, props.DISPLAYNAME, GROUP_MEMBER_SET, props.GROUP_MEMBERSHIP,
               clark("D:principal-URL"), clark("D:owner"), props.PRIVILEGES, clark("D:supported-report-set"),
               clark("D:current-user-principal"))


def group_value(tag: str, group: _Group, user: str, base_prefix: str) -> Optional[ET.Element]:
    element = ET.Element(tag)
    if tag == props.RESOURCETYPE:
        ET.SubElement(element, clark("D:principal"))
        ET.SubElement(element, clark(f"CS:{delegation.GROUPS[group.access]}"))
    elif tag == props.DISPLAYNAME:
        element.text = delegation.GROUPS[group.access]
    elif tag == GROUP_MEMBER_SET:
        return _hrefs(tag, group.members, base_prefix)
    elif tag == props.GROUP_MEMBERSHIP:
        pass  # a proxy group is in no group
    elif tag == clark("D:principal-URL"):
        return _hrefs(tag, [group.path], base_prefix)
    elif tag == clark("D:owner"):
        return _hrefs(tag, [group.owner], base_prefix)
    elif tag == props.PRIVILEGES:  # the owner sets the members; their proxies may look
        return _privileges(("D:read", "D:write", "D:write-properties") if user == group.owner else ("D:read",))
    elif tag == clark("D:supported-report-set"):
        report = ET.SubElement(ET.SubElement(element, clark("D:supported-report")), clark("D:report"))
        ET.SubElement(report, EXPAND_PROPERTY)
    elif tag == clark("D:current-user-principal"):
        return _hrefs(tag, [user], base_prefix)
    else:
        return None
    return element


def _value(target: Target, tag: str, user: str, base_prefix: str) -> Optional[ET.Element]:
    if isinstance(target, _Group):
        return group_value(tag, target, user, base_prefix)
    return props.principal_property(tag, target, base_prefix)


# -- who may see what ------------------------------------------------------------
def _may_read(conn, user: str, owner: str) -> bool:
    """The owner and their proxies see the owner's principal and proxy groups (as they may
    PROPFIND the owner's home: the rights component's answer for it)."""
    return bool(user) and access_of(conn, user, owner) is not None


_ACCOUNT = sa.text("SELECT 1 FROM account WHERE name = :name")


def _resolve(conn, path: str, cache: dict, user: str) -> Optional[Target]:
    """The principal or proxy group at ``path`` (stripped, "alice" or "alice/calendar-proxy-read")
    as ``user`` sees it: of someone else's delegations, only the people the directory shows them."""
    if path not in cache:
        group = delegation.group_of(path)
        if group is not None:
            owner, access = group
            members = _shown(conn, user, owner, delegation.delegates_of(conn, owner, access))
            cache[path] = (_Group(owner, access, members)
                           if conn.execute(_ACCOUNT, {"name": owner}).first() else None)
        elif path and "/" not in path:
            cache[path] = props.load(conn, path, viewer=user)
        else:
            cache[path] = None
    return cache[path]


def _shown(conn, user: str, owner: str, names: list[str]) -> list[str]:
    """Those of ``owner``'s proxies ``names`` that ``user`` may learn about (all of them for ``owner``)."""
    if user == owner or not names:
        return names
    visible = directory.visible_among(conn, user, names)
    return [name for name in names if name in visible]


def _path_of_href(href: str, base_prefix: str) -> Optional[str]:
    """The stripped path a DAV:href names (a path or an absolute URL), or None."""
    return props.response_path(urlsplit((href or "").strip()).path, base_prefix)


# -- PROPFIND and PROPPATCH of a proxy group ------------------------------------------
def _forbidden(reason: str):
    return (client.FORBIDDEN, {"Content-Type": "text/plain; charset=utf-8"},
            f"{client.responses[client.FORBIDDEN]}: {reason}", None)


def _multistatus(app, responses: list[ET.Element], request_info: dict):
    multistatus = ET.Element(clark("D:multistatus"))
    multistatus.extend(responses)
    request_info["status"] = client.MULTI_STATUS
    headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": f"text/xml; charset={app._encoding}"}
    # Written as built: what the application adds to principals' answers (server.scheduling.principal)
    # would put plain hrefs back in place of expanded properties.
    return client.MULTI_STATUS, headers, ApplicationBase._xml_response(app, multistatus, request_info), None


def propfind(app, environ, base_prefix: str, path: str, user: str, request_info: dict):
    """The answer to a PROPFIND of a proxy group principal, or None for any other path."""
    group = delegation.group_of(path)
    if group is None:
        return None
    parsed, xml_request = fast_listing._read_body(app, environ, request_info)
    if not parsed:
        return httputils.BAD_REQUEST
    with app._storage.connection() as conn:
        if not _may_read(conn, user, group[0]):
            return httputils.NOT_ALLOWED
        target = _resolve(conn, _stripped(path), {}, user)
    if target is None:
        return httputils.NOT_FOUND
    wanted = _wanted(xml_request)
    names_only = xml_request is not None and xml_request.find(clark("D:propname")) is not None
    found, missing = [], []
    for tag in wanted:
        value = group_value(tag, target, user, base_prefix)
        if value is None:
            missing.append(ET.Element(tag))
        else:
            found.append(ET.Element(tag) if names_only else value)
    return _multistatus(app, [props.make_response(_href(base_prefix, target.path), found, missing)], request_info)


def _stripped(path: str) -> str:
    return pathutils.strip_path(pathutils.sanitize_path(path))


def _wanted(xml_request: Optional[ET.Element]) -> list[str]:
    """The properties a PROPFIND asks for (all of a group's for allprop, propname or no body)."""
    prop = xml_request.find(_PROP) if xml_request is not None else None
    if prop is None:
        return list(GROUP_PROPS)
    return list(dict.fromkeys(child.tag for child in prop))


def proppatch(app, environ, base_prefix: str, path: str, user: str, request_info: dict):
    """The owner's PROPPATCH of a proxy group's DAV:group-member-set (its other properties are
    protected), or None for any other path."""
    group = delegation.group_of(path)
    if group is None:
        return None
    owner, access = group
    if user != owner:
        return _forbidden(f"only {owner} chooses {owner}'s proxies")
    parsed, xml_request = fast_listing._read_body(app, environ, request_info)
    if not parsed or xml_request is None or xml_request.tag != clark("D:propertyupdate"):
        return _bad_request(app, request_info, "the body must be a DAV:propertyupdate")
    members, other = None, []
    for action in xml_request:
        for prop in action.findall(_PROP):
            for element in prop:
                if element.tag != GROUP_MEMBER_SET:
                    other.append(element.tag)
                elif action.tag == clark("D:set"):
                    members = [element_href.text or "" for element_href in element.findall(_HREF)]
                elif action.tag == clark("D:remove"):
                    members = []
    href = _href(base_prefix, delegation.group_path(owner, access))
    if other:  # RFC 4918 §9.2: all or nothing, the protected ones 403, the rest 424
        return _propstats(app, request_info, href, [
            (client.FORBIDDEN, other, "only DAV:group-member-set of a proxy group can be changed"),
            (client.FAILED_DEPENDENCY, [GROUP_MEMBER_SET] if members is not None else [], None)])
    if members is None:
        return _multistatus(app, [props.make_response(href, [], [])], request_info)
    with app._storage.connection() as conn:
        try:  # every name is checked before anything is written
            names = [_member_name(conn, owner, href_text, base_prefix) for href_text in members]
            delegation.set_group(conn, owner, access, names)
        except delegation.BadDelegate as e:
            return _propstats(app, request_info, href, [(client.CONFLICT, [GROUP_MEMBER_SET], str(e))])
    return _propstats(app, request_info, href, [(client.OK, [GROUP_MEMBER_SET], None)])


def _member_name(conn, owner: str, href: str, base_prefix: str) -> str:
    """The account a member href names: its principal URL (``/bob/``) or a ``mailto:`` address of
    an account ``owner`` may know of (an address reveals no account the directory would not)."""
    text = (href or "").strip()
    if text.lower().startswith("mailto:"):
        name = directory.account_for_address(conn, text)
        if name is None or not directory.visible(conn, owner, name):
            raise delegation.BadDelegate(f"no user has the address {text}")
        return name
    try:
        path = _path_of_href(text, base_prefix)
    except ValueError:  # not a URL at all (urlsplit: "http://[x/")
        path = None
    name = unquote(path or "")
    if not name or "/" in name or "\x00" in name:
        raise delegation.BadDelegate(f"{text!r} is not a user's principal URL (/<user>/)")
    return name


def _propstats(app, request_info: dict, href: str, results):
    """A PROPPATCH answer: (status, property tags, reason or None) per propstat."""
    response = ET.Element(clark("D:response"))
    ET.SubElement(response, _HREF).text = href
    for status, tags, reason in results:
        if not tags:
            continue
        propstat = ET.SubElement(response, clark("D:propstat"))
        prop = ET.SubElement(propstat, _PROP)
        for tag in tags:
            ET.SubElement(prop, tag)
        ET.SubElement(propstat, clark("D:status")).text = xmlutils.make_response(status)
        if reason:
            ET.SubElement(propstat, clark("D:responsedescription")).text = reason
    return _multistatus(app, [response], request_info)


def _bad_request(app, request_info: dict, reason: str):
    return app._rejection_response(request_state.Rejection(client.BAD_REQUEST, None, reason), request_info)


def refusal(path: str) -> Optional[request_state.Rejection]:
    """Why nothing can be created at ``path`` (MKCOL, MKCALENDAR, PUT), or None."""
    if delegation.group_of(path) is None:
        return None
    return request_state.Rejection(
        client.FORBIDDEN, None, f"{path} is a proxy group principal (delegation): it holds no calendar "
        "or item; choose another name")


def write_refusal(storage, user: str, path: str) -> Optional[request_state.Rejection]:
    """Why a write to ``path`` (in another user's home) was refused (403) when ``user`` is that
    user's read proxy, or None."""
    stripped = _stripped(path)
    owner = stripped.split("/", 1)[0]
    if not user or not owner or owner == user:
        return None
    with storage.connection() as conn:
        row = conn.execute(delegation.DELEGATION, {"owner": owner, "delegate": user}).first()
    if row is None:
        return None
    if row.access == "read":
        reason = (f"/{stripped}/ is {owner}'s; you are {owner}'s read proxy: ask {owner} to make you "
                  "a write proxy to change it")
    else:
        reason = (f"/{stripped}/: as {owner}'s write proxy you change the items of {owner}'s calendars and "
                  "task lists only (not the calendars themselves, the scheduling inbox or outbox, nor address books)")
    return request_state.Rejection(client.FORBIDDEN, "D:need-privileges", reason)


# -- the expand-property REPORT (RFC 3253 §3.8) --------------------------------------------
def expand_property(app, xml_request: ET.Element, base_prefix: str, path: str, user: str, request_info: dict):
    """The answer to an expand-property REPORT of a principal or proxy group (Apple asks its own
    principal for the principals it is a proxy of, with their names and addresses), or None for a
    REPORT of anything else (Radicale's empty answer)."""
    stripped = _stripped(path)
    if not stripped or stripped.count("/") > 1 or (
            "/" in stripped and delegation.group_of(stripped) is None):
        return None
    try:
        specs = _specs(xml_request)
    except BadRequest as e:
        return _bad_request(app, request_info, str(e))
    with app._storage.connection() as conn:
        owner = stripped.split("/", 1)[0]
        if not _may_read(conn, user, owner):
            return httputils.NOT_ALLOWED
        cache: dict = {}
        budget = [MAX_EXPANDED]
        if _resolve(conn, stripped, cache, user) is None:
            return httputils.NOT_FOUND
        try:
            response = _expand(conn, stripped, specs, user, base_prefix, cache, budget)
        except BadRequest as e:
            return _bad_request(app, request_info, str(e))
    return _multistatus(app, [response], request_info)


def _specs(element: ET.Element) -> list[tuple[str, list]]:
    """(property tag, nested specs) of each DAV:property child."""
    specs = []
    for child in element.findall(_PROPERTY):
        name = child.get("name")
        if not name:
            raise BadRequest("each DAV:property of an expand-property needs a name attribute")
        specs.append((f"{{{child.get('namespace', 'DAV:')}}}{name}", _specs(child)))
    return specs


def _expand(conn, path: str, specs: list, user: str, base_prefix: str, cache: dict, budget: list) -> ET.Element:
    target = _resolve(conn, path, cache, user)
    if isinstance(target, props.Principal) and target.name != user and not directory.visible(conn, user, target.name):
        target = None  # naming someone a proxy shows nothing of them the directory would not
    elif isinstance(target, _Group) and not _may_read(conn, user, target.owner):
        target = None  # someone else's proxies are theirs and their proxies' business
    href = _href(base_prefix, path)
    if target is None:
        response = ET.Element(clark("D:response"))
        ET.SubElement(response, _HREF).text = href
        ET.SubElement(response, clark("D:status")).text = xmlutils.make_response(client.NOT_FOUND)
        return response
    found, missing = [], []
    for tag, nested in specs:
        budget[0] -= 1
        if budget[0] < 0:
            raise BadRequest(f"an expand-property asks for at most {MAX_EXPANDED} properties in all")
        value = _value(target, tag, user, base_prefix)
        if value is None:
            missing.append(ET.Element(tag))
            continue
        if nested:  # each href becomes the response of the resource it names
            for index, child in enumerate(list(value)):
                if child.tag != _HREF:
                    continue
                named = _path_of_href(child.text or "", base_prefix)
                value.remove(child)
                value.insert(index, _expand(conn, named or "", nested, user, base_prefix, cache, budget)
                             if named else child)
        found.append(value)
    return props.make_response(href, found, missing)
