"""calendar-query and calendar-multiget answered from the stored texts, without a tree per item.

Radicale answers these REPORTs with an item object and an ElementTree response
per member, then serializes the tree; its calendar-data is the stored text as
GET returns it (``serialize()`` does not parse). Here, as in
``server.fast_listing``, Radicale renders one response for a stand-in item with
its own code, and each member is filled into that template from its row: href,
ETag and the stored text, escaped as ElementTree escapes it. The answer is byte
for byte Radicale's.

Only plain requests take this path: a calendar of this storage readable as
Radicale checks it, no ``C:expand``, no partial calendar-data (``C:calendar-data``
with children), only ``C:filter``s, a multiget without a filter whose hrefs name
members. Items the index cannot decide (see ``Collection.get_filtered``) are
tested with Radicale's ``test_filter``, which parses just those. Everything else
returns None and Radicale answers, with the request body as it came.
"""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http import client
from typing import Callable, Optional
from urllib.parse import unquote, urlparse

from radicale import pathutils, xmlutils
from radicale.app.report import test_filter, xml_item_response

from server import answer_cache, fast_listing
from server.fast_listing import _ETAG, _HREF, _TEXT, _Body, _Template, _TemplateItem, NeedsText
from storage_plugin import rendered, request_state
from storage_plugin.bounds import budget
from storage_plugin.collection import Collection
from storage_plugin.items import from_row

_CALENDAR_QUERY = xmlutils.make_clark("C:calendar-query")
_CALENDAR_MULTIGET = xmlutils.make_clark("C:calendar-multiget")
_SYNC_COLLECTION = xmlutils.make_clark("D:sync-collection")
_PROP = xmlutils.make_clark("D:prop")
_HREF_TAG = xmlutils.make_clark("D:href")
_C_FILTER = xmlutils.make_clark("C:filter")
_CR_FILTER = xmlutils.make_clark("CR:filter")
_EXPAND = xmlutils.make_clark("C:expand")
_GETETAG = xmlutils.make_clark("D:getetag")
_GETCONTENTTYPE = xmlutils.make_clark("D:getcontenttype")
# Radicale writes the item text into both (address-data on a calendar is odd, but answered alike).
_TEXT_PROPS = {xmlutils.make_clark("C:calendar-data"), xmlutils.make_clark("CR:address-data")}


class _Fallback(Exception):
    """Radicale's own code must answer (an error to report, or a case not handled here)."""


class _Member:
    """What a member's response is filled from."""
    __slots__ = ("href", "etag", "component", "text", "id")

    def __init__(self, href: str, etag=None, component=None, text=None, id=None) -> None:
        self.href, self.etag, self.component, self.text, self.id = href, etag, component, text, id


@dataclass(frozen=True)
class View:
    """Who asked, at which path, for a REPORT answered on another user's calendar (a shared
    calendar's mount, ``server.sharing``), and how its chunks' hrefs move to that path. An answer
    is kept as the asker got it, under the asker's path: gzipped, it can no longer be moved."""
    user: str
    path: str
    moved: Callable[[list[bytes]], list[bytes]]


def report(app, environ, base_prefix: str, path: str, user: str, user_groups: set,
           request_info: dict, view: Optional[View] = None):
    """Radicale's answer to a sync-collection, calendar-query or calendar-multiget REPORT,
    or None to let Radicale answer. The body is read once for all three. With a ``view``, the
    answer's hrefs are moved to the path the asker named."""
    access = fast_listing.report_access(app, user, user_groups, path)
    if access is None:
        return None
    xml_request, timed_out = fast_listing._read_request(app, environ, request_info)
    if timed_out:
        return timed_out
    if xml_request is None:
        return None
    if xml_request.tag == _SYNC_COLLECTION:
        answer = fast_listing.answer_sync(app, base_prefix, path, user, access, xml_request, request_info)
        return _seen_from(view, answer)
    if xml_request.tag not in (_CALENDAR_QUERY, _CALENDAR_MULTIGET):
        return None
    prop = xml_request.find(_PROP)
    props = list(prop) if prop is not None else []
    if not _plain(xml_request, props):
        return None
    state = request_state.current()
    # Texts stay in the database when no property shows them (an etag-only query), and when
    # the database writes them into the answer itself.
    wants_text = any(p.tag in _TEXT_PROPS for p in props)
    in_database = wants_text and _written_by_database(app, props)
    read_texts = wants_text and not in_database
    if state is not None:
        state.needs_item_text = read_texts
    try:
        with app._storage.acquire_lock("r", user):
            collection = fast_listing._leaf_collection(app, path, access)
            if collection is None or collection.tag != "VCALENDAR":
                raise _Fallback()
            key = (_answer_key(app, environ, user, base_prefix, path, collection, state) if view is None
                   else _answer_key(app, environ, view.user, base_prefix, view.path, collection, state))
            kept = answer_cache.ANSWERS.get(key) if key is not None else None
            if kept is not None:
                return _kept_answer(app, kept, state, xml_request, request_info)
            body = None
            if in_database and xml_request.tag == _CALENDAR_QUERY:
                body = _rendered_query_body(app, base_prefix, collection, props, xml_request)
            if body is None:
                if xml_request.tag == _CALENDAR_MULTIGET:
                    missing, members = _multiget_members(base_prefix, collection, xml_request, read_texts)
                else:
                    missing, members = [], _query_members(collection, xml_request, read_texts)
                if read_texts:
                    _check_occurrence_limit(app, props, members)
                # In the read's snapshot: the database may write the members' texts.
                body = _body(app, base_prefix, collection, props, missing, members, in_database)
        if in_database:
            _check_rendered_occurrence_limit(app, body.vevents)
    except (_Fallback, NeedsText):
        if state is not None:
            state.needs_item_text = True
        return None
    if view is not None:
        body.chunks = view.moved(body.chunks)
    if key is not None:
        if state.gzip:  # kept once compressed (server.caldav_app)
            state.answer_to_keep = (key, body.vevents)
        else:
            answer_cache.ANSWERS.put(key, body.chunks, body.vevents)
    return fast_listing._answer(app, body, xml_request, request_info, dav_header=False)


def _answer_key(app, environ, user: str, base_prefix: str, path: str, collection: Collection,
                state) -> Optional[tuple]:
    """Where the answer is kept (``server.answer_cache``), or None when it is not. The hrefs
    in it depend on the prefix the server is mounted under."""
    parsed = environ.get(fast_listing._PARSED)
    if state is None or parsed is None:
        return None
    return answer_cache.key_of(user, base_prefix + path, environ.get("HTTP_DEPTH", ""), collection.etag,
                               parsed[0], app._encoding, state.gzip)


def _seen_from(view: Optional[View], answer):
    """A sync-collection ``answer`` with its hrefs moved to the ``view``'s path; None (Radicale
    answers) when its body cannot be moved."""
    if view is None or answer is None or answer[0] != client.MULTI_STATUS:
        return answer
    status, headers, body, logged = answer
    if isinstance(body, _Body):
        body.chunks = view.moved(body.chunks)
        return answer
    if isinstance(body, bytes):
        return status, headers, b"".join(view.moved([body])), logged
    return None


def _kept_answer(app, kept: tuple[list[bytes], int, bool], state, xml_request, request_info):
    chunks, _, gzipped = kept  # kept only after its VEVENT count passed the limit
    body = _Body(app._encoding)
    body.chunks = list(chunks)
    status, headers, body, logged = fast_listing._answer(app, body, xml_request, request_info, dav_header=False)
    if gzipped:  # small answers are kept as they went: uncompressed (server.compression)
        headers["Content-Encoding"] = "gzip"
    return status, headers, body, logged


def _plain(xml_request: ET.Element, props: list) -> bool:
    if xml_request.find(".//" + _EXPAND) is not None or xml_request.findall(_CR_FILTER):
        return False
    if xml_request.tag == _CALENDAR_MULTIGET and xml_request.findall(_C_FILTER):
        return False  # Radicale would test every fetched item against it
    return not any(p.tag in _TEXT_PROPS and len(p) for p in props)


def _query_members(collection: Collection, xml_request: ET.Element, wants_text: bool) -> list:
    """The members a calendar-query selects, in Radicale's order."""
    filters = xml_request.findall(_C_FILTER)
    found = []
    for row, exact, text in collection.filtered_rows(filters):
        if filters and not exact:
            item = from_row(collection, row, text=text)
            try:
                if not all(test_filter(collection.tag, item, filter_) for filter_ in filters):
                    continue
            except budget.BudgetExceeded:
                raise  # the request's time is up: do_REPORT answers 503, nothing runs on
            except Exception:
                raise _Fallback() from None  # Radicale answers 400 and logs why
        found.append(_Member(row.href, row.etag, row.component, text if wants_text else None, row.id))
    return found


def _multiget_members(base_prefix: str, collection: Collection, xml_request: ET.Element, wants_text: bool):
    """(names not found, members found) of a calendar-multiget, in Radicale's order:
    it reads the hrefs into a set and answers the missing ones first."""
    references = set()
    for href_element in xml_request.findall(_HREF_TAG):
        try:
            href_path = pathutils.sanitize_path(unquote(urlparse(href_element.text).path))
        except ValueError:
            raise _Fallback() from None  # e.g. "http://[x": Radicale answers it
        if not (href_path + "/").startswith(base_prefix + "/"):
            raise _Fallback()  # Radicale skips it with a warning
        references.add(href_path[len(base_prefix):])
    names = []
    for reference in references:
        try:
            name = pathutils.name_from_path(reference, collection)
        except ValueError:
            raise _Fallback() from None  # a 404 for a path outside the calendar
        if not name:
            raise _Fallback()  # the calendar itself: every item
        names.append(name)
    names = list(dict.fromkeys(names))
    rows = {row.href: row for row in collection.rows_by_href(names)}
    missing, found = [], []
    for name in names:
        row = rows.get(name)
        if row is None:
            missing.append(_Member(name))
        else:
            found.append(_Member(row.href, row.etag, row.component, row.text if wants_text else None, row.id))
    return missing, found


def _written_by_database(app, props: list) -> bool:
    """Whether PostgreSQL can write the members' responses (``storage_plugin.rendered``): a
    UTF-8 answer whose members show only their href, ETag and text (a getcontenttype is
    filled in Python)."""
    return (app._encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            and not any(p.tag == _GETCONTENTTYPE for p in props))


def _check_occurrence_limit(app, props: list, members: list) -> None:
    """Radicale refuses (400) an answer carrying more VEVENTs than ``max_expand_occurrence``,
    counting the lines whose upper case is BEGIN:VEVENT. Counting the text's upper case
    bounds that from above; Radicale decides when the bound is over the limit."""
    limit = app.configuration.get("reporting", "max_expand_occurrence")
    copies = sum(1 for p in props if p.tag in _TEXT_PROPS)
    if not limit or not copies:
        return
    bound = copies * sum(member.text.upper().count("BEGIN:VEVENT") for member in members)
    if bound > limit:
        raise _Fallback()


def _check_rendered_occurrence_limit(app, vevents: int) -> None:
    """``_check_occurrence_limit`` on an answer written by the database, whose texts may hold
    ``vevents`` lines Radicale counts (their upper case is BEGIN:VEVENT): each such line holds
    "N:VEVENT" in ASCII upper case, as no other character's upper case is one of these letters
    alone, and the database counts those in every text it stores (``storage_plugin.rendered``)."""
    limit = app.configuration.get("reporting", "max_expand_occurrence")
    if limit and vevents > limit:
        raise _Fallback()


def _document(app, base_prefix: str, collection: Collection, props: list, with_missing: bool,
              with_members: bool) -> tuple[str, str, str, str, str]:
    """(head, missing template, middle, member template, tail) of the answer."""
    # A template only for responses that occur: ElementTree declares the namespaces
    # of the elements present, so an empty answer must not declare the members' ones.
    multistatus = ET.Element(xmlutils.make_clark("D:multistatus"))
    uri = pathutils.unstrip_path(posixpath.join(collection.path, _HREF))
    if with_missing:
        gone = xml_item_response(base_prefix, uri, found_item=False)
        multistatus.append(gone)
        fast_listing._wrap(multistatus, gone, "missing")
    template_item = _TemplateItem(collection)
    found_props, not_found_props = [], []
    for p in props:  # as radicale.app.report.xml_report renders an item
        element = ET.Element(p.tag)
        if p.tag == _GETCONTENTTYPE:
            element.text = xmlutils.get_content_type(template_item, app._encoding)
            found_props.append(element)
        elif p.tag in _TEXT_PROPS:
            element.text = _TEXT
            found_props.append(element)
        elif p.tag == _GETETAG:
            element.text = _ETAG
            found_props.append(element)
        else:
            not_found_props.append(element)
    if with_members and (found_props or not_found_props):
        member = xml_item_response(base_prefix, uri, found_props=found_props,
                                   not_found_props=not_found_props, found_item=True)
        multistatus.append(member)
        fast_listing._wrap(multistatus, member, "found")
    document = fast_listing._serialize(app, multistatus)
    head, missing_template, rest = fast_listing._cut(document, "missing") if with_missing else ("", "", document)
    middle, found_template, tail = fast_listing._cut(rest, "found")
    return head, missing_template, middle, found_template, tail


def _body(app, base_prefix: str, collection: Collection, props: list, missing: list,
          members: list, in_database: bool = False) -> _Body:
    head, missing_template, middle, found_template, tail = _document(
        app, base_prefix, collection, props, bool(missing), bool(members))
    body = _Body(app._encoding)
    body.text(head)
    if missing_template:
        body.members(missing, _Template(missing_template, collection, app._encoding).formatter())
    body.text(middle)
    if found_template:
        template = _Template(found_template, collection, app._encoding)
        if in_database:
            with app._storage.connection() as conn:
                for batch in rendered.render(conn, template.parts, template.slots, [member.id for member in members]):
                    body.chunks.extend(batch.chunks)
                    body.vevents += batch.vevents
        else:
            body.members(members, template.formatter())
    body.text(tail)
    return body


def _rendered_query_body(app, base_prefix: str, collection: Collection, props: list,
                         xml_request: ET.Element) -> Optional[_Body]:
    """The answer to a calendar-query written by the database in one statement, or None when
    an item needs testing in Python (see ``Collection.render_filtered``)."""
    head, _, middle, found_template, tail = _document(app, base_prefix, collection, props, False, True)
    template = _Template(found_template, collection, app._encoding)
    answer = collection.render_filtered(xml_request.findall(_C_FILTER), template.parts, template.slots)
    if answer is None:
        return None
    body = _Body(app._encoding)
    body.vevents = answer.vevents
    if answer.chunks:
        body.text(head + middle)
        body.chunks.extend(answer.chunks)
        body.text(tail)
    else:  # no member: the answer declares none of their properties' namespaces
        head, _, middle, _, tail = _document(app, base_prefix, collection, props, False, False)
        body.text(head + middle + tail)
    return body
