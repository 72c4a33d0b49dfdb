"""Radicale's WSGI application with what our storage adds to the protocol.

Radicale's storage interface cannot carry a sync ``DAV:limit``, a CalDAV
precondition raised by storage, or the parser's reason for a 400. This
subclass opens a ``request_state`` per request and translates between the
two layers; everything else is stock Radicale.
"""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from http import client
from urllib.parse import quote

from radicale import app as radicale_app
from radicale import item as radicale_item
from radicale import xmlutils

from server import fast_listing, fast_report, read_only
from storage_plugin import request_state

# PROPFIND properties whose values need the stored iCalendar text.
_TEXT_PROPS = {xmlutils.make_clark(tag) for tag in
               ("C:calendar-data", "CR:address-data", "D:getcontentlength")}
PLANERIX_NS = "http://planerix.org/ns/"


class _RecordingInput(io.RawIOBase):
    """Keeps what Radicale reads of the request body, to explain a 400 afterwards."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.data = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size) if size is not None and size >= 0 else self._stream.read()
        self.data += chunk
        return chunk


def sync_limit_of(report: ET.Element) -> int | None:
    """``DAV:limit/DAV:nresults`` of a sync-collection REPORT (RFC 6578 §3.7)."""
    if report.tag != xmlutils.make_clark("D:sync-collection"):
        return None
    nresults = report.find(f"{xmlutils.make_clark('D:limit')}/{xmlutils.make_clark('D:nresults')}")
    if nresults is None:
        return None
    text = (nresults.text or "").strip()
    if not text.isdigit() or int(text) < 1:
        raise RuntimeError(f"DAV:nresults must be a positive integer, got {text!r}")
    return int(text)


def propfind_needs_text(propfind: ET.Element | None) -> bool:
    """Whether a PROPFIND answer serializes items: DAV:allprop (or no body) and getcontentlength do.

    (REPORTs always do: Radicale serializes every reported item, even for DAV:getetag alone.)"""
    if propfind is None or propfind.find(xmlutils.make_clark("D:allprop")) is not None:
        return True
    prop = propfind.find(xmlutils.make_clark("D:prop"))
    return prop is not None and any(child.tag in _TEXT_PROPS for child in prop)


def explain_bad_calendar_body(body: bytes, encoding: str, max_rrule_occurrences: int) -> str:
    """Why Radicale refused a PUT body with 400, in the parser's words."""
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as e:
        return f"the body is not valid {encoding}: {e}"
    try:
        components = radicale_item.read_components(text)
    except Exception as e:
        return f"the body is not valid iCalendar/vCard: {e}"
    try:
        tag = radicale_item.predict_tag_of_parent_collection(components)
        radicale_item.check_and_sanitize_items(
            components, max_vevent_rrule_occurrence=max_rrule_occurrences, tag=tag or "")
        for component in components:
            radicale_item.Item(collection_path="", vobject_item=component).prepare()
    except Exception as e:
        return str(e) or type(e).__name__
    return "the request could not be applied to this collection"


class PlanerixApplication(radicale_app.Application):

    # Depth-1 PROPFIND, sync-collection, calendar-query and calendar-multiget of a
    # calendar without an item object per member (server.fast_listing,
    # server.fast_report); False runs Radicale's generic code for them.
    fast_listings = True

    def __call__(self, environ, start_response):
        token = request_state.begin()
        try:
            return super().__call__(environ, start_response)
        finally:
            request_state.end(token)

    # -- REPORT and PROPFIND: DAV:limit and whether texts are needed -------------
    def _read_xml_request_body(self, environ, request_info):
        xml_request = super()._read_xml_request_body(environ, request_info)
        state = request_state.current()
        method = environ.get("REQUEST_METHOD")
        if state is not None and method == "PROPFIND":
            state.needs_item_text = propfind_needs_text(xml_request)
        if xml_request is not None and method == "REPORT":
            # Radicale fails on an empty multiget DAV:href; as "" it is answered with a 404 entry.
            for href in xml_request.findall(xmlutils.make_clark("D:href")):
                href.text = href.text or ""
            if state is not None:
                state.sync_limit = sync_limit_of(xml_request)
                state.request_href = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/"))
        return xml_request

    def _xml_response(self, xml_content, request_info):
        self._finish_multistatus(xml_content)
        return super()._xml_response(xml_content, request_info)

    def _finish_multistatus(self, xml_content: ET.Element) -> None:
        """What storage adds to any answer before it is written (also by server.fast_listing)."""
        self._append_truncation(xml_content)
        self._strip_read_only_privileges(xml_content)

    def _append_truncation(self, xml_content: ET.Element) -> None:
        """The 507 entry of a sync-collection cut by DAV:limit, at the end of the multistatus."""
        state = request_state.current()
        if (state is not None and state.sync_truncated
                and xml_content.tag == xmlutils.make_clark("D:multistatus")):
            xml_content.append(self._truncation_response(state.request_href))
            state.sync_truncated = False

    @staticmethod
    def _strip_read_only_privileges(xml_content: ET.Element) -> None:
        """Subscribed calendars and their items show no write privileges."""
        state = request_state.current()
        if (state is not None and state.read_only_paths
                and xml_content.tag == xmlutils.make_clark("D:multistatus")):
            read_only.strip_write_privileges(xml_content, state.read_only_paths)

    @staticmethod
    def _truncation_response(href: str) -> ET.Element:
        response = ET.Element(xmlutils.make_clark("D:response"))
        ET.SubElement(response, xmlutils.make_clark("D:href")).text = href
        ET.SubElement(response, xmlutils.make_clark("D:status")).text = \
            f"HTTP/1.1 {client.INSUFFICIENT_STORAGE} {client.responses[client.INSUFFICIENT_STORAGE]}"
        error = ET.SubElement(response, xmlutils.make_clark("D:error"))
        ET.SubElement(error, xmlutils.make_clark("D:number-of-matches-within-limits"))
        return response

    def do_PROPFIND(self, environ, base_prefix, path, user, user_groups, request_info):
        if self.fast_listings:
            answer = fast_listing.propfind(self, environ, base_prefix, path, user, user_groups,
                                           request_info)
            if answer is not None:
                return answer
        return super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)

    def do_REPORT(self, environ, base_prefix, path, user, user_groups, request_info):
        if self.fast_listings:
            answer = fast_report.report(self, environ, base_prefix, path, user, user_groups, request_info)
            if answer is not None:
                return answer
        return super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)

    # -- writes: preconditions from storage, reasons for 400 ---------------------
    def do_PUT(self, environ, base_prefix, path, user, user_groups, request_info):
        recorder = _RecordingInput(environ["wsgi.input"])
        environ["wsgi.input"] = recorder
        response = self._unless_rejected(
            super().do_PUT(environ, base_prefix, path, user, user_groups, request_info), request_info)
        if response[0] == client.BAD_REQUEST and request_state.current().rejection is None:
            reason = explain_bad_calendar_body(bytes(recorder.data), self._encoding,
                                               self._max_vevent_rrule_occurrence)
            return (client.BAD_REQUEST, {"Content-Type": "text/plain; charset=utf-8"},
                    f"Bad Request: {reason}", None)
        return response

    def do_MOVE(self, environ, base_prefix, path, user, user_groups, request_info):
        return self._unless_rejected(
            super().do_MOVE(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def do_DELETE(self, environ, base_prefix, path, user, user_groups, request_info):
        try:
            response = super().do_DELETE(environ, base_prefix, path, user, user_groups, request_info)
        except request_state.StorageRejection:
            # Radicale lets storage errors of DELETE escape (the transaction rolls back).
            if request_state.current() is None or request_state.current().rejection is None:
                raise
            response = None
        return self._unless_rejected(response, request_info)

    def do_PROPPATCH(self, environ, base_prefix, path, user, user_groups, request_info):
        return self._unless_rejected(
            super().do_PROPPATCH(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def do_MKCALENDAR(self, environ, base_prefix, path, user, user_groups, request_info):
        return self._unless_rejected(
            super().do_MKCALENDAR(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def do_MKCOL(self, environ, base_prefix, path, user, user_groups, request_info):
        return self._unless_rejected(
            super().do_MKCOL(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def _unless_rejected(self, response, request_info):
        state = request_state.current()
        if state is not None and state.rejection is not None:
            return self._rejection_response(state.rejection, request_info)
        return response

    def _rejection_response(self, rejection: request_state.Rejection, request_info):
        request_info["status"] = rejection.status
        if rejection.precondition is None:
            return (rejection.status, {"Content-Type": "text/plain; charset=utf-8"},
                    f"{client.responses[rejection.status]}: {rejection.reason}", None)
        error = xmlutils.webdav_error(rejection.precondition)
        # RFC 4918 §16: an error body may carry more elements; this one is for people.
        ET.SubElement(error, f"{{{PLANERIX_NS}}}reason").text = rejection.reason
        headers = {"Content-Type": f"text/xml; charset={self._encoding}"}
        return rejection.status, headers, self._xml_response(error, request_info), None
