"""Principal, inbox and outbox properties, added to Radicale's multistatus after rendering.

Radicale answers the principal's ``calendar-user-address-set`` with the principal URL alone and
knows nothing of the scheduling properties (they land in its 404 propstat). ``complete`` fills
them in from the directory, moves them to the 200 propstat, and rewrites the resourcetype and
privileges of the inbox and outbox (stored as collections of kind ``schedule-inbox`` and
``schedule-outbox``, migration 0008).
"""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http import client
from typing import Callable, Optional
from urllib.parse import unquote

import sqlalchemy as sa
from radicale import xmlutils

from storage_plugin import directory
from storage_plugin.sharing import delegation


def clark(human: str) -> str:
    return xmlutils.make_clark(human)


_RESPONSE, _HREF, _PROPSTAT, _PROP, _STATUS = (clark(t) for t in (
    "D:response", "D:href", "D:propstat", "D:prop", "D:status"))
OK_STATUS = xmlutils.make_response(client.OK)
NOT_FOUND_STATUS = xmlutils.make_response(client.NOT_FOUND)

# Properties of a principal this module answers (Radicale answers the others).
ADDRESS_SET, EMAIL_SET, DISPLAYNAME, CUTYPE, INBOX_URL, OUTBOX_URL, DEFAULT_CALENDAR = (clark(t) for t in (
    "C:calendar-user-address-set", "CS:email-address-set", "D:displayname", "C:calendar-user-type",
    "C:schedule-inbox-URL", "C:schedule-outbox-URL", "C:schedule-default-calendar-URL"))
# Delegation (storage_plugin.sharing.delegation): the proxy groups a user is in, and whose proxy they are.
GROUP_MEMBERSHIP, PROXY_READ_FOR, PROXY_WRITE_FOR = (clark(t) for t in (
    "D:group-membership", "CS:calendar-proxy-read-for", "CS:calendar-proxy-write-for"))
PROXY_FOR = {PROXY_READ_FOR: "read", PROXY_WRITE_FOR: "write"}
DELEGATION_PROPS = (GROUP_MEMBERSHIP, PROXY_READ_FOR, PROXY_WRITE_FOR)
PRINCIPAL_PROPS = (ADDRESS_SET, EMAIL_SET, DISPLAYNAME, CUTYPE, INBOX_URL, OUTBOX_URL, DEFAULT_CALENDAR,
                   GROUP_MEMBERSHIP, PROXY_READ_FOR, PROXY_WRITE_FOR)
RESOURCETYPE, PRIVILEGES = clark("D:resourcetype"), clark("D:current-user-privilege-set")

# RFC 6638 §6: what the owner may do with their inbox and outbox, besides reading.
MAILBOX_PRIVILEGES = {
    directory.INBOX: ("C:schedule-deliver", "C:schedule-deliver-invite", "C:schedule-deliver-reply",
                      "C:schedule-query-freebusy"),
    directory.OUTBOX: ("C:schedule-send", "C:schedule-send-invite", "C:schedule-send-reply",
                       "C:schedule-send-freebusy"),
}


@dataclass(frozen=True)
class Principal:
    name: str
    display_name: Optional[str]
    cutype: str
    addresses: tuple[str, ...]        # mailto: addresses, preferred first
    default_calendar: Optional[str]   # path without slashes
    proxy_for: tuple[tuple[str, str], ...] = ()  # (delegator, "read" or "write")


def load(conn: sa.Connection, name: str, proxies: bool = True, *, viewer: str) -> Optional[Principal]:
    """The principal ``name`` as ``viewer`` sees it (whose proxy they are only with ``proxies``: one
    query less; to anyone else than ``name``, only the delegators the directory shows ``viewer``)."""
    row = directory.identity(conn, name)
    if row is None:
        return None
    proxy_for = tuple(delegation.delegators_of(conn, name)) if proxies else ()
    if proxy_for and viewer != name:
        shown = directory.visible_among(conn, viewer, [delegator for delegator, _ in proxy_for])
        proxy_for = tuple(entry for entry in proxy_for if entry[0] in shown)
    return Principal(name, row.display_name, row.cutype or "INDIVIDUAL",
                     tuple(directory.addresses_of(conn, name)), directory.default_calendar_path(conn, name),
                     proxy_for)


def asks_for_proxies(tags) -> bool:
    return any(tag in DELEGATION_PROPS for tag in tags)


def _href(base_prefix: str, path: str) -> ET.Element:
    element = ET.Element(_HREF)
    element.text = xmlutils.make_href(base_prefix, "/" + path.strip("/") + "/" if path.strip("/") else "/")
    return element


def principal_value(tag: str, principal: Principal, base_prefix: str) -> Optional[ET.Element]:
    """The element of one principal property, or None when it has no value (404)."""
    element = ET.Element(tag)
    name = principal.name
    if tag == ADDRESS_SET:
        for address in principal.addresses:  # DAVx5 takes the first mailto: as the account name
            ET.SubElement(element, _HREF).text = address
        element.append(_href(base_prefix, name))
    elif tag == EMAIL_SET:
        if not principal.addresses:
            return None
        for address in principal.addresses:
            ET.SubElement(element, clark("CS:email-address")).text = address.removeprefix("mailto:")
    elif tag == DISPLAYNAME:
        element.text = principal.display_name or name
    elif tag == CUTYPE:
        element.text = principal.cutype
    elif tag == INBOX_URL:
        element.append(_href(base_prefix, f"{name}/{directory.INBOX}"))
    elif tag == OUTBOX_URL:
        element.append(_href(base_prefix, f"{name}/{directory.OUTBOX}"))
    elif tag == DEFAULT_CALENDAR:
        if principal.default_calendar is None:
            return None
        element.append(_href(base_prefix, principal.default_calendar))
    elif tag == GROUP_MEMBERSHIP:
        for delegator, access in principal.proxy_for:
            element.append(_href(base_prefix, delegation.group_path(delegator, access)))
    elif tag in PROXY_FOR:
        for delegator, access in principal.proxy_for:
            if access == PROXY_FOR[tag]:
                element.append(_href(base_prefix, delegator))
    else:
        return None
    return element


def principal_property(tag: str, principal: Principal, base_prefix: str) -> Optional[ET.Element]:
    """``principal_value``, and the properties Radicale answers for a principal it renders itself
    (for answers built here: searches, expand-property)."""
    value = principal_value(tag, principal, base_prefix)
    if value is not None:
        return value
    if tag in (clark("C:calendar-home-set"), clark("D:principal-URL")):
        value = ET.Element(tag)
        value.append(_href(base_prefix, principal.name))
    elif tag == RESOURCETYPE:
        value = ET.Element(tag)
        ET.SubElement(value, clark("D:principal"))
        ET.SubElement(value, clark("D:collection"))
    elif tag == clark("CS:record-type"):
        value = ET.Element(tag)
        value.text = {"ROOM": "locations", "RESOURCE": "resources", "GROUP": "groups"}.get(
            principal.cutype, "users")
    return value


def make_response(href: str, found: list[ET.Element], missing: list[ET.Element]) -> ET.Element:
    """A D:response for ``href`` (a URL path) with a 200 propstat of ``found`` and a 404 one of ``missing``."""
    response = ET.Element(_RESPONSE)
    ET.SubElement(response, _HREF).text = href
    for status, elements in ((client.OK, found), (client.NOT_FOUND, missing)):
        if elements:
            propstat = ET.SubElement(response, _PROPSTAT)
            ET.SubElement(propstat, _PROP).extend(elements)
            ET.SubElement(propstat, _STATUS).text = xmlutils.make_response(status)
    return response


def _propstats(response: ET.Element) -> dict[str, ET.Element]:
    """The response's D:prop elements by status line ("HTTP/1.1 200 OK" -> prop)."""
    found = {}
    for propstat in response.findall(_PROPSTAT):
        status, prop = propstat.find(_STATUS), propstat.find(_PROP)
        if status is not None and prop is not None:
            found[(status.text or "").strip()] = prop
    return found


def _ok_prop(response: ET.Element) -> ET.Element:
    props = _propstats(response)
    if OK_STATUS in props:
        return props[OK_STATUS]
    propstat = ET.Element(_PROPSTAT)
    prop = ET.SubElement(propstat, _PROP)
    ET.SubElement(propstat, _STATUS).text = OK_STATUS
    # Before other propstats (a 404 one): the order clients see in other servers' answers.
    position = next((i for i, child in enumerate(response) if child.tag == _PROPSTAT), len(response))
    response.insert(position, propstat)
    return prop


def set_props(response: ET.Element, values: Callable[[str], Optional[ET.Element]], tags) -> None:
    """Answer ``tags`` in ``response`` with ``values(tag)``: taken from the 404 propstat (or
    replacing Radicale's 200 value) into the 200 propstat; None leaves a property 404."""
    props = _propstats(response)
    missing = props.get(NOT_FOUND_STATUS)
    for status, prop in props.items():
        for element in list(prop):
            if element.tag not in tags:
                continue
            value = values(element.tag)
            if value is None:
                if status == OK_STATUS:  # Radicale had a value we have none for: 404
                    prop.remove(element)
                    if missing is None:
                        missing = _missing_prop(response)
                    missing.append(ET.Element(element.tag))
                continue
            prop.remove(element)
            _ok_prop(response).append(value)
    for status, prop in _propstats(response).items():
        if len(prop) == 0:
            response.remove(next(ps for ps in response.findall(_PROPSTAT) if ps.find(_PROP) is prop))


def _missing_prop(response: ET.Element) -> ET.Element:
    propstat = ET.SubElement(response, _PROPSTAT)
    prop = ET.SubElement(propstat, _PROP)
    ET.SubElement(propstat, _STATUS).text = NOT_FOUND_STATUS
    return prop


def _mailbox_resourcetype(kind: str) -> ET.Element:
    element = ET.Element(RESOURCETYPE)
    ET.SubElement(element, clark("D:collection"))
    ET.SubElement(element, clark(f"C:{kind}"))
    return element


def _with_mailbox_privileges(kind: str, current: ET.Element) -> ET.Element:
    element = ET.Element(PRIVILEGES)
    for privilege in current:
        element.append(privilege)
    for human in MAILBOX_PRIVILEGES[kind]:
        ET.SubElement(ET.SubElement(element, clark("D:privilege")), clark(human))
    return element


def response_path(href: str, base_prefix: str) -> Optional[str]:
    """The stripped collection path a D:response href names ("alice/calendar"), or None."""
    path = unquote(href)
    if base_prefix and path.startswith(base_prefix):
        path = path[len(base_prefix):]
    if not path.startswith("/"):
        return None
    return posixpath.normpath(path).strip("/") if path.strip("/") else ""


def complete(multistatus: ET.Element, base_prefix: str, conn_factory, propname: bool = False,
             viewer: str = "") -> None:
    """Fill in the scheduling properties of the principals, inboxes and outboxes in
    ``multistatus`` as ``viewer`` sees them (with ``propname``, the answer to DAV:propname, add
    their names to the principals'). ``conn_factory()`` gives a database connection (a context
    manager), opened only when the answer shows one of them."""
    if multistatus.tag != clark("D:multistatus"):
        return
    if propname:
        _list_principal_props(multistatus, base_prefix)
        return
    targets = []
    for response in multistatus.findall(_RESPONSE):
        href = response.find(_HREF)
        path = response_path(href.text or "", base_prefix) if href is not None else None
        if path is None or not path:
            continue
        if "/" not in path or path.rsplit("/", 1)[1] in MAILBOX_PRIVILEGES:
            targets.append((path, response))
    if not targets:
        return
    with conn_factory() as conn:
        kinds = dict(conn.execute(_KINDS, {"paths": [path for path, _ in targets]}).all())
        principals: dict[tuple[str, bool], Optional[Principal]] = {}
        for path, response in targets:
            key = (path.split("/", 1)[0], "/" not in path and asks_for_proxies(
                element.tag for propstat in response.findall(_PROPSTAT) for element in propstat.iter()))
            if key not in principals:
                principals[key] = load(conn, *key, viewer=viewer)
            principal = principals[key]
            if principal is None:
                continue
            if "/" not in path:
                set_props(response, lambda tag: principal_value(tag, principal, base_prefix),
                          PRINCIPAL_PROPS)
            elif kinds.get(path) in MAILBOX_PRIVILEGES:
                _complete_mailbox(response, kinds[path], principal, base_prefix)


def _list_principal_props(multistatus: ET.Element, base_prefix: str) -> None:
    for response in multistatus.findall(_RESPONSE):
        href = response.find(_HREF)
        path = response_path(href.text or "", base_prefix) if href is not None else None
        if path and "/" not in path:
            prop = _ok_prop(response)
            listed = {element.tag for element in prop}
            prop.extend(ET.Element(tag) for tag in PRINCIPAL_PROPS if tag not in listed)


_KINDS = sa.text("SELECT path, kind FROM collection WHERE path = ANY(:paths)")


def _complete_mailbox(response: ET.Element, kind: str, principal: Principal, base_prefix: str) -> None:
    current = {element.tag: element for prop in _propstats(response).values() for element in prop}

    def value(tag: str) -> Optional[ET.Element]:
        if tag == RESOURCETYPE:
            return _mailbox_resourcetype(kind)
        if tag == PRIVILEGES:
            return _with_mailbox_privileges(kind, current[tag])
        if tag == DEFAULT_CALENDAR and kind == directory.INBOX:  # RFC 6638 §9.2
            return principal_value(tag, principal, base_prefix)
        return current.get(tag)
    set_props(response, value, {RESOURCETYPE, PRIVILEGES, DEFAULT_CALENDAR})
