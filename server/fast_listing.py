"""Depth-1 PROPFIND and sync-collection on a calendar without building an item per member.

Radicale renders a listing by building a ``radicale.item.Item`` per member and an
ElementTree response per item (re-sanitizing the paths about eight times each),
then serializing the tree: at 100,000 items that is seconds of Python for
answers made of hrefs and etags the database already holds.

Here Radicale renders one response, for a stand-in item (``_TemplateItem``)
whose href, etag, last-modified and component are unique markers, with its own
code (``xml_propfind`` / ``xml_item_response``) and its own serializer, in the
same multistatus as the collection's response. That response, cut out of the
serialized document between two comments, is the template every member's
response is filled into from its stored row. So properties, 404 propstats,
namespace prefixes and order are Radicale's, and the answer is byte for byte
the one the generic path gives.

Only plain cases take this path: not a shared calendar's mount, a DAV:prop request, read
rights as Radicale checks them, a calendar or address book of this storage, no
property that needs the item text (``_TemplateItem`` refuses to serialize);
everything else returns None and the caller runs Radicale's code, with the
request body as it came.
"""
from __future__ import annotations

import io
import logging
import posixpath
import re
import secrets
import socket
import xml.etree.ElementTree as ET
from http import client
from typing import Callable, Iterable, Optional
from urllib.parse import quote

from radicale import httputils, pathutils, xmlutils
from radicale import item as radicale_item
from radicale.app.base import Access
from radicale.app.propfind import xml_propfind
from radicale.app.report import xml_item_response
from radicale.log import logger

from storage_plugin import request_state
from storage_plugin.collection import Collection
from storage_plugin.items import http_date
from storage_plugin.storage import Storage

_NONCE = secrets.token_hex(8)
# Marker values of the template item: plain ASCII that neither quote() nor XML escaping changes.
_HREF = f"planerix{_NONCE}href"
_ETAG = f"planerix{_NONCE}etag"
_MODIFIED = f"planerix{_NONCE}modified"
_COMPONENT = f"PLANERIX{_NONCE}COMPONENT"
_TEXT = f"planerix{_NONCE}text"
_START, _END = f"planerix{_NONCE}start", f"planerix{_NONCE}end"

_PROP = xmlutils.make_clark("D:prop")
_PROPFIND = xmlutils.make_clark("D:propfind")
_SYNC_COLLECTION = xmlutils.make_clark("D:sync-collection")
_SYNC_TOKEN = xmlutils.make_clark("D:sync-token")
_GETETAG = xmlutils.make_clark("D:getetag")
_GETCONTENTTYPE = xmlutils.make_clark("D:getcontenttype")
# What the REPORT renderer fills from the item text (or, for getetag, after serializing it).
_REPORT_TEXT_PROPS = {xmlutils.make_clark(t) for t in ("C:calendar-data", "CR:address-data")}
_LEAF_TAGS = ("VCALENDAR", "VADDRESSBOOK")


class NeedsText(Exception):
    """The template item was asked for its text: the answer depends on each item's text."""


class _TemplateItem(radicale_item.Item):
    """A member with marker values; its text is never available."""

    def __init__(self, collection: Collection) -> None:
        super().__init__(collection=collection, href=_HREF, last_modified=_MODIFIED, text="",
                         etag=_ETAG, uid="", name=_item_name(collection), component_name=_COMPONENT,
                         time_range=(0, 0))
        self._text = None

    def serialize(self) -> str:
        raise NeedsText()

    @property
    def vobject_item(self):
        raise NeedsText()


class _Meta:
    """What ``xmlutils.get_content_type`` reads of an item."""

    def __init__(self, name: str, component_name: str) -> None:
        self.name, self.component_name = name, component_name


def _item_name(collection: Collection) -> str:
    return "VCARD" if collection.tag == "VADDRESSBOOK" else "VCALENDAR"


def _escape(text: str) -> str:
    """XML character data as ElementTree writes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


class _Template:
    """A serialized response with marker slots, filled once per member."""

    def __init__(self, text: str, collection: Collection, encoding: str) -> None:
        content_type = xmlutils.get_content_type(_TemplateItem(collection), encoding)
        slots = {"h": _HREF, "e": _ETAG, "m": _MODIFIED, "c": content_type, "t": _TEXT}
        self.uses = {key for key, marker in slots.items() if marker in text}
        # The content type holds the component marker: it is matched before the component alone.
        pieces = re.split("(" + "|".join(re.escape(slots[key]) for key in ("c", "h", "e", "m", "t")) + ")", text)
        keys = {marker: key for key, marker in slots.items()}
        self.parts, self.slots = pieces[0::2], [keys[marker] for marker in pieces[1::2]]
        text = text.replace("{", "{{").replace("}", "}}")
        # The content type holds the component marker: replace it before the component alone.
        for key in ("c", "h", "e", "m", "t"):
            text = text.replace(slots[key], "{%s}" % key)
        if _NONCE in text:
            raise NeedsText()  # a marker in an unexpected form: let Radicale render it
        self._format = text.format
        self._name = _item_name(collection)
        self._encoding = encoding
        self._content_types: dict = {}

    def _content_type(self, component: str) -> str:
        value = self._content_types.get(component)
        if value is None:
            value = _escape(xmlutils.get_content_type(_Meta(self._name, component), self._encoding))
            self._content_types[component] = value
        return value

    def formatter(self) -> Callable:
        """row -> the member's response."""
        uses, fmt = self.uses, self._format
        if uses == {"h", "e"}:  # getetag, the usual listing
            return lambda row: fmt(h=_escape(quote(row.href)), e=_escape(row.etag))
        if uses == {"h", "e", "t"}:  # getetag and calendar-data, the usual report
            return lambda row: fmt(h=_escape(quote(row.href)), e=_escape(row.etag), t=_escape(row.text))
        if uses == {"h"}:  # a deleted member
            return lambda row: fmt(h=_escape(quote(row.href)))

        def general(row) -> str:
            values = {}
            if "h" in uses:
                values["h"] = _escape(quote(row.href))
            if "e" in uses:
                values["e"] = _escape(row.etag)
            if "m" in uses:
                values["m"] = _escape(http_date(row.modified))
            if "c" in uses:
                values["c"] = self._content_type(row.component)
            if "t" in uses:
                values["t"] = _escape(row.text)
            return fmt(**values)
        return general


class _Body:
    """The response body as encoded chunks of about ``CHUNK`` members each, so a
    listing of 100,000 members never holds 100,000 small strings at once. It goes to
    the client as these chunks, never joined into one copy (``server.caldav_app``):
    Radicale takes it for the answer's bytes, and reads only its length."""

    CHUNK = 1000

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.chunks: list[bytes] = []
        # VEVENT lines the members' texts may hold, when the database wrote them (server.fast_report).
        self.vevents = 0

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    def text(self, text: str) -> None:
        if text:
            self.chunks.append(text.encode(self.encoding, "xmlcharrefreplace"))

    def members(self, rows: Iterable, format_row: Callable) -> None:
        batch: list[str] = []
        for row in rows:
            batch.append(format_row(row))
            if len(batch) >= self.CHUNK:
                self.text("".join(batch))
                batch.clear()
        self.text("".join(batch))


def chunks_of(answers: list) -> list:
    """The WSGI body of Radicale's answers, a ``_Body`` among them as its chunks."""
    return [chunk for answer in answers
            for chunk in (answer.chunks if isinstance(answer, _Body) else (answer,))]


# The body ``_read_body`` parsed, and what it returned.
_PARSED = "planerix.parsed_body"


def _read_body(app, environ, request_info):
    """The parsed XML body, leaving ``wsgi.input`` as it came for Radicale's own path.

    Returns (True, element or None) or (False, None) when Radicale should answer
    (unparsable body), or raises socket.timeout."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    parsed = environ.get(_PARSED)
    if parsed is not None and parsed[0] == raw:  # a REPORT is looked at up to three times
        return parsed[1]
    try:
        result = True, app._read_xml_request_body(environ, request_info)
    except Exception:
        result = False, None
    finally:
        environ["wsgi.input"] = io.BytesIO(raw)
    environ[_PARSED] = (raw, result)
    return result


def _content_logged(app) -> bool:
    """Radicale logs response bodies on request; the fast path has no whole tree to log."""
    return bool(logger.isEnabledFor(logging.DEBUG) or app._response_content_on_notice_condition)


def _usable(app, path: str, user: str, user_groups: set) -> bool:
    """Whether the fast path may answer: our storage, no content logging, and a path that is
    not a calendar shared with the user (Radicale remaps those to the owner's)."""
    return (isinstance(app._storage, Storage) and not _content_logged(app)
            and (not app._sharing._enabled
                 or app._sharing.sharing_collection_resolver(path, user, user_groups) is None))


def _serialize(app, multistatus: ET.Element) -> str:
    """The document as Radicale's ``_xml_response`` writes it, as text."""
    app._finish_multistatus(multistatus)
    f = io.BytesIO()
    ET.ElementTree(multistatus).write(f, encoding=app._encoding, xml_declaration=True)
    return f.getvalue().decode(app._encoding)


def _wrap(multistatus: ET.Element, response: ET.Element, tag: str) -> None:
    """Put comments around ``response`` (a child of ``multistatus``) to find it when serialized."""
    index = list(multistatus).index(response)
    multistatus.insert(index + 1, ET.Comment(f"{_END}{tag}"))
    multistatus.insert(index, ET.Comment(f"{_START}{tag}"))


def _cut(document: str, tag: str) -> tuple[str, str, str]:
    """(before, template, after) of the response wrapped as ``tag``; template "" if none."""
    head, _, rest = document.partition(f"<!--{_START}{tag}-->")
    template, _, tail = rest.partition(f"<!--{_END}{tag}-->")
    return head, template, tail


def _answer(app, body: _Body, xml_request, request_info, dav_header: bool):
    headers = {"Content-Type": "text/xml; charset=%s" % app._encoding}
    if dav_header:  # Radicale's PROPFIND sends it, its REPORT does not
        headers = {"DAV": httputils.DAV_HEADERS, **headers}
    request_info["status"] = client.MULTI_STATUS
    return client.MULTI_STATUS, headers, body, xmlutils.pretty_xml(xml_request)


def _leaf_collection(app, path: str, access: Access) -> Optional[Collection]:
    """The calendar or address book at ``path`` if the user may read it, else None."""
    found = next(iter(app._storage.discover(path, "0")), None)
    if not isinstance(found, Collection) or found.tag not in _LEAF_TAGS:
        return None
    return found if access.check("r", found) else None


def _read_request(app, environ, request_info):
    """(the parsed body or None, None), or (None, Radicale's timeout answer) when the client timed out."""
    try:
        ok, xml_request = _read_body(app, environ, request_info)
    except socket.timeout:
        logger.debug("Client timed out", exc_info=True)
        return None, httputils.REQUEST_TIMEOUT
    return (xml_request if ok else None), None


# -- PROPFIND, Depth 1 ------------------------------------------------------------
def propfind(app, environ, base_prefix: str, path: str, user: str, user_groups: set,
             request_info: dict):
    """Radicale's answer to a Depth-1 PROPFIND of a calendar, or None to let Radicale answer."""
    if environ.get("HTTP_DEPTH", "0") == "0" or not _usable(app, path, user, user_groups):
        return None
    # Radicale's checks before it reads the body; any refusal is left to it.
    access = Access(app._rights, user, user_groups, path)
    if not access.check("r") or "r" not in access.permissions:
        return None
    xml_request, timed_out = _read_request(app, environ, request_info)
    if timed_out:
        return timed_out
    if xml_request is None or xml_request.tag != _PROPFIND or not len(xml_request) or xml_request[0].tag != _PROP:
        return None
    # Rendered inside the read snapshot: the members are read in batches while filled in.
    with app._storage.acquire_lock("r", user):
        collection = _leaf_collection(app, path, access)
        if collection is None:
            return None
        children = app._storage.child_collections(collection)
        template_item = _TemplateItem(collection)
        allowed = [(entry, permission, raw, None) for entry, permission, raw in
                   app._collect_allowed_items([collection, template_item, *children], user, user_groups)]
        try:
            multistatus = xml_propfind(app, base_prefix, path, xml_request, allowed, user, app._encoding,
                                       max_resource_size=app._max_resource_size, shares={})
            if multistatus is None:
                return None  # Radicale refuses (current-user-principal without a user)
            entries = [entry for entry, _, _, _ in allowed]
            if template_item in entries:
                _wrap(multistatus, multistatus[entries.index(template_item)], "item")
            head, template, tail = _cut(_serialize(app, multistatus), "item")
            body = _Body(app._encoding)
            body.text(head)
            if template:
                body.members(collection.iter_member_rows(),
                             _Template(template, collection, app._encoding).formatter())
            body.text(tail)
        except NeedsText:
            return None
    return _answer(app, body, xml_request, request_info, dav_header=True)


# -- REPORT sync-collection ---------------------------------------------------------
def report_access(app, user: str, user_groups: set, path: str) -> Optional[Access]:
    """The access a fast REPORT answer proceeds with, or None to leave the request to Radicale."""
    if not _usable(app, path, user, user_groups):
        return None
    access = Access(app._rights, user, user_groups, path)
    return access if access.check("r") else None


def answer_sync(app, base_prefix: str, path: str, user: str, access: Access, xml_request,
                request_info: dict):
    """Radicale's answer to a sync-collection REPORT (read by ``server.fast_report``) whose
    properties need no item text (getetag, getcontenttype, anything else is a 404 propstat),
    or None."""
    if xml_request is None or xml_request.tag != _SYNC_COLLECTION:
        return None
    prop = xml_request.find(_PROP)
    props = list(prop) if prop is not None else []
    if (any(p.tag in _REPORT_TEXT_PROPS for p in props)
            or xml_request.findall(xmlutils.make_clark("C:filter"))
            or xml_request.findall(xmlutils.make_clark("CR:filter"))
            or xml_request.find(".//" + xmlutils.make_clark("C:expand")) is not None):
        return None
    old_token_element = xml_request.find(_SYNC_TOKEN)
    old_token = (old_token_element.text or "").strip() if old_token_element is not None else ""
    with app._storage.acquire_lock("r", user):
        collection = _leaf_collection(app, path, access)
        if collection is None:
            return None
        try:
            token, changes = collection.sync_changes(old_token)
        except ValueError:
            return None  # Radicale answers 403 DAV:valid-sync-token and logs why
        try:
            body = _sync_body(app, base_prefix, collection, token, props, changes)
        except NeedsText:
            return None
    return _answer(app, body, xml_request, request_info, dav_header=False)


def _sync_document(app, base_prefix: str, collection: Collection, token: str, props: list,
                   with_members: bool) -> tuple[str, str, str, str, str]:
    """(head, missing template, middle, member template, tail) of a sync answer; without
    members, the properties asked for appear nowhere (nor do their namespaces)."""
    multistatus = ET.Element(xmlutils.make_clark("D:multistatus"))
    ET.SubElement(multistatus, _SYNC_TOKEN).text = token
    uri = pathutils.unstrip_path(posixpath.join(collection.path, _HREF))
    # Radicale adds the 404s of deleted members while retrieving, the members after.
    gone = xml_item_response(base_prefix, uri, found_item=False)
    multistatus.append(gone)
    _wrap(multistatus, gone, "missing")
    template_item = _TemplateItem(collection)
    found_props, not_found_props = [], []
    for p in props:  # as radicale.app.report.xml_report renders a retrieved item
        element = ET.Element(p.tag)
        if p.tag == _GETCONTENTTYPE:
            element.text = xmlutils.get_content_type(template_item, app._encoding)
            found_props.append(element)
        elif p.tag == _GETETAG:
            element.text = template_item.etag
            found_props.append(element)
        else:
            not_found_props.append(element)
    if with_members and (found_props or not_found_props):
        member = xml_item_response(base_prefix, uri, found_props=found_props,
                                   not_found_props=not_found_props, found_item=True)
        multistatus.append(member)
        _wrap(multistatus, member, "found")
    head, missing_template, rest = _cut(_serialize(app, multistatus), "missing")
    middle, found_template, tail = _cut(rest, "found")
    return head, missing_template, middle, found_template, tail


def _sync_body(app, base_prefix: str, collection: Collection, token: str, props: list,
               changes: Iterable) -> _Body:
    state = request_state.current()
    truncated = state is not None and state.sync_truncated  # writing the 507 clears it
    head, missing_template, middle, found_template, tail = _sync_document(
        app, base_prefix, collection, token, props, with_members=True)
    # Each href comes once: hrefs are unique among members, and a member and a
    # tombstone never share one (writes remove the tombstone, deletes the member).
    missing: list = []
    members = 0

    def present():
        nonlocal members
        for change in changes:
            if change.etag is None:
                missing.append(change)
            else:
                members += 1
                yield change

    found = _Body(app._encoding)
    if found_template:
        found.members(present(), _Template(found_template, collection, app._encoding).formatter())
    else:
        for _ in present():
            pass
    if not members:
        if truncated:
            state.sync_truncated = True
        head, missing_template, middle, _, tail = _sync_document(
            app, base_prefix, collection, token, props, with_members=False)
    body = _Body(app._encoding)
    body.text(head)
    body.members(missing, _Template(missing_template, collection, app._encoding).formatter())
    body.text(middle)
    body.chunks.extend(found.chunks)
    body.text(tail)
    return body
