"""Radicale's WSGI application with what our storage adds to the protocol.

Radicale's storage interface cannot carry a sync ``DAV:limit``, a CalDAV
precondition raised by storage, or the parser's reason for a 400. This
subclass opens a ``request_state`` per request and translates between the
two layers; everything else is stock Radicale.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import threading
import xml.etree.ElementTree as ET
from http import client
from urllib.parse import quote, unquote, urlsplit

from radicale import app as radicale_app
from radicale import httputils, pathutils
from radicale import item as radicale_item
from radicale import xmlutils

from server import (answer_cache, compression, delegation, fast_listing, fast_report, put_refusal, read_only,
                    request_body, settings, sharing, todo_expand, xml_guard)
from server.scheduling import calendar_transp, delivery, freebusy_post, principal, search, tags
from storage_plugin import availability, database, readiness, request_state
from storage_plugin.bounds import budget, ical_scan
from storage_plugin.storage import EXPANDING, VALID_OBJECT

logger = logging.getLogger("planerix.caldav")

# PROPFIND properties whose values need the stored iCalendar text.
_TEXT_PROPS = {xmlutils.make_clark(tag) for tag in
               ("C:calendar-data", "CR:address-data", "D:getcontentlength")}
PLANERIX_NS = "http://planerix.org/ns/"


class _RecordingInput(io.RawIOBase):
    """Keeps what Radicale reads of the request body, to explain a 400 afterwards.

    With a ``check``, the body is checked once it is read whole (``length`` bytes,
    Radicale reads it in one call) before Radicale parses it: ``check`` raises
    ``request_state.StorageRejection`` (the request's answer), which reaches Radicale
    as the RuntimeError it expects of an unreadable body."""

    def __init__(self, stream, check=None, length: int = 0) -> None:
        self._stream = stream
        self.data = bytearray()
        self._check = check
        self._length = length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size) if size is not None and size >= 0 else self._stream.read()
        self.data += chunk
        if self._check is not None and (len(self.data) >= self._length or size is None or size < 0):
            check, self._check = self._check, None
            try:
                check(bytes(self.data))
            except request_state.StorageRejection as e:
                raise RuntimeError(str(e)) from e
        return chunk


def _content_length(environ) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def check_xml_body(body: bytes) -> None:
    try:
        xml_guard.check_xml(body)
    except xml_guard.XmlRefused as e:
        raise request_state.StorageRejection(client.BAD_REQUEST, None, str(e)) from None


# A PUT's budget: ``expansion_budget_seconds`` for each started group of this many components
# (a whole calendar uploaded at once prepares and indexes all of them: 5-25 ms each when
# nothing is wrong, so the default budget leaves a margin of four and more).
COMPONENTS_PER_BUDGET = 50


def calendar_body_check(limits: ical_scan.TextLimits):
    """The check of a PUT body: line limits (400) and recurrence rules (403
    CALDAV:valid-calendar-object-resource), before any parser runs; a body of many
    components extends the request's budget in proportion."""
    def check(body: bytes) -> None:
        try:
            components = ical_scan.check_text(body, limits)
        except ical_scan.TextRefused as e:
            status, precondition = ((client.FORBIDDEN, VALID_OBJECT) if e.rule
                                    else (client.BAD_REQUEST, None))
            raise request_state.StorageRejection(status, precondition, str(e)) from None
        spent = budget.current()
        if spent is not None and components > COMPONENTS_PER_BUDGET:
            spent.extend(spent.seconds * ((components - 1) // COMPONENTS_PER_BUDGET))
    return check


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

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        # Map sharing (storage_plugin.sharing.mounts) reads through this application's storage, so
        # that inside a request's transaction its queries are part of it.
        self._sharing._storage = self._storage

    def __call__(self, environ, start_response):
        problem = request_body.framing_problem(environ)
        if problem is not None:
            return self._refuse_framing(start_response, *problem)
        token = request_state.begin()
        state = request_state.current()
        state.scheduling = self.scheduling_enabled
        state.if_schedule_tag_match = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
        state.lookup = self._lookup_ahead(environ)
        try:
            length = _content_length(environ)
            if length:
                environ["wsgi.input"] = request_body.CheckedInput(
                    environ["wsgi.input"], self._charset_of(environ), length, on_refusal=self._refuse_body)
            respond = self._throttling_aware(state, start_response, self.dav_features())
            state.gzip = compression.take_gzip(environ)
            if not state.gzip:
                return compression.plain(fast_listing.chunks_of(super().__call__(environ, respond)))
            started = []
            chunks = fast_listing.chunks_of(super().__call__(environ, lambda *response: started.append(response)))
            status, headers, *exc_info = started[0]
            if any(chunks):
                headers, chunks = compression.compress(headers, chunks)
                if state.answer_to_keep is not None and status.startswith("207"):
                    gzipped = any(name.lower() == "content-encoding" for name, _ in headers)
                    answer_cache.ANSWERS.put(state.answer_to_keep[0], chunks, state.answer_to_keep[1], gzipped)
            respond(status, headers, *exc_info)
            return chunks
        finally:
            request_state.end(token)

    def _lookup_ahead(self, environ):
        """What the login may read ahead of a read of one path (``storage_plugin.auth``): the item
        a GET or HEAD names (a collection's GET reads more, in a transaction of its own), the
        collection or item of a Depth-0 PROPFIND, or the calendar a REPORT asks (a
        calendar-query, multiget or sync-collection, which reads the rest after the kept answers
        or selections are looked up); None for anything else."""
        method, path = environ["REQUEST_METHOD"].upper(), environ.get("PATH_INFO", "")
        if not (method in ("GET", "HEAD") and not path.endswith("/")
                or method == "PROPFIND" and environ.get("HTTP_DEPTH", "0") == "0"
                or method == "REPORT" and path.endswith("/") and "/" in path.strip("/")):
            return None
        return self._storage.lookup(pathutils.sanitize_path(path))

    def dav_features(self) -> tuple[str, ...]:
        """What Planerix adds to Radicale's DAV header (OPTIONS, PROPFIND, PROPPATCH)."""
        # calendar-availability: working hours on the inbox (RFC 7953 §7.2.4, storage_plugin.inbox_availability).
        scheduling = ("calendar-auto-schedule", "calendar-availability", "inbox-availability")
        return (scheduling if self.scheduling_enabled else ()) + search.DAV_FEATURES + (delegation.DAV_FEATURE,)

    @functools.cached_property
    def scheduling_enabled(self) -> bool:
        return settings.scheduling_enabled(self.configuration)

    @staticmethod
    def _throttling_aware(state: request_state.RequestState, start_response, features=()):
        """A login refused by throttling is answered 429 with Retry-After, not 401: the
        client's password is not (known to be) wrong, and it should wait, not ask again.
        The DAV header gains ``features``."""
        def respond(status: str, headers: list, exc_info=None):
            headers = [(k, f"{v}, {', '.join(features)}" if k.lower() == "dav" and features else v)
                       for k, v in headers]
            if state.login_retry_after is not None and status.startswith("401"):
                status = f"{client.TOO_MANY_REQUESTS} {client.responses[client.TOO_MANY_REQUESTS]}"
                headers = [(k, v) for k, v in headers if k.lower() != "www-authenticate"]
                headers.append(("Retry-After", str(state.login_retry_after)))
            return start_response(status, headers, exc_info)
        return respond

    def _charset_of(self, environ) -> str:
        """The body's charset: as declared, else Radicale's ``[encoding] request`` (no guessing)."""
        return request_body.declared_charset(environ) or self.configuration.get("encoding", "request")

    @staticmethod
    def _refuse_framing(start_response, status: int, reason: str):
        """Before authentication and without reading the body, which cannot be delimited (the
        connection is closed after this answer: server.keep_alive)."""
        body = f"{client.responses[status]}: {reason}".encode()
        start_response(f"{status} {client.responses[status]}",
                       [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _refuse_body(reason: str) -> None:
        state = request_state.current()
        if state is not None:
            state.rejection = request_state.Rejection(client.BAD_REQUEST, None, reason)

    # -- health, and 503 while the database cannot serve --------------------------
    _readiness: readiness.Readiness | None = None
    _readiness_lock = threading.Lock()

    def _handle_request(self, environ):
        path = environ.get("PATH_INFO", "")
        if path in readiness.PATHS and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return self._health_response(path)
        try:
            return super()._handle_request(environ)
        except Exception as e:  # raised before Radicale calls do_* (login, principal lookup)
            if not availability.is_database_unavailable(e):
                raise
            status, headers, answer, _ = self._database_unavailable(environ, e)
            return _wsgi(status, headers, answer.encode())

    def _health_response(self, path: str):
        with self._readiness_lock:
            if self._readiness is None:
                from okr_extension.schema import PACKAGES  # the sidecar's schema counts too

                self._readiness = readiness.Readiness(database.url_from(self.configuration), PACKAGES)
        status, body, headers = readiness.health(path, self._readiness)
        return _wsgi(status, {**headers, "Content-Type": "application/json"}, json.dumps(body).encode())

    @staticmethod
    def _database_unavailable(environ, error: BaseException):
        logger.warning("%s %s: 503, the database is unavailable: %s", environ.get("REQUEST_METHOD"),
                       environ.get("PATH_INFO", ""), availability.describe(error))
        return (client.SERVICE_UNAVAILABLE,
                {"Content-Type": "text/plain; charset=utf-8",
                 "Retry-After": str(availability.RETRY_AFTER_SECONDS)},
                "Service Unavailable: the database is unavailable; retry in "
                f"{availability.RETRY_AFTER_SECONDS} seconds", None)

    # -- REPORT and PROPFIND: DAV:limit and whether texts are needed -------------
    def _read_xml_request_body(self, environ, request_info):
        # Depth and DTDs are checked in one pass before ElementTree builds a tree (server.xml_guard).
        environ["wsgi.input"] = _RecordingInput(environ["wsgi.input"], check_xml_body,
                                                _content_length(environ))
        xml_request = super()._read_xml_request_body(environ, request_info)
        state = request_state.current()
        method = environ.get("REQUEST_METHOD")
        if state is not None and method == "PROPFIND":
            state.needs_item_text = propfind_needs_text(xml_request)
            state.propname = xml_request is not None and xml_request.find(xmlutils.make_clark("D:propname")) is not None
        if method in ("PROPPATCH", "MKCALENDAR"):
            try:
                calendar_transp.store_as_text(xml_request)
            except ValueError as e:
                if state is not None:
                    state.rejection = request_state.Rejection(client.BAD_REQUEST, None, str(e))
                raise RuntimeError(str(e)) from None
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
        state = request_state.current()
        if state is not None:
            principal.complete(xml_content, state.base_prefix, self._storage.connection, state.propname,
                               state.user)
            tags.complete(xml_content, state.base_prefix, self._storage.connection)
            sharing.name_owners(xml_content, state.base_prefix)
        calendar_transp.show_as_element(xml_content)

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
        request_state.current().base_prefix, request_state.current().user = base_prefix, user
        group = delegation.propfind(self, environ, base_prefix, path, user, request_info)
        if group is not None:
            return group
        try:
            if self.fast_listings:
                answer = fast_listing.propfind(self, environ, base_prefix, path, user, user_groups,
                                               request_info)
                if answer is not None:
                    return self._unless_rejected(answer, request_info)
            if self._sharing._enabled and sharing.is_home_listing(environ, path):
                # One read transaction for the home and every calendar shared with the user
                # (Radicale's listing would open one per shared calendar).
                with self._storage.acquire_lock("r", user):
                    response = super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)
            else:
                response = super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)
        except request_body.BadBody:  # read by the fast path, which lets Radicale's 400s through
            response = None
        return self._unless_rejected(response, request_info)

    def do_REPORT(self, environ, base_prefix, path, user, user_groups, request_info):
        request_state.current().base_prefix, request_state.current().user = base_prefix, user
        # Filtering may expand recurrences (a series queried beyond the indexed horizon):
        # the query's budget ends it with 503 instead of letting it run after the client left.
        with budget.limited(self._storage.query_seconds, "answering this query") as spent:
            try:
                response = self._report(environ, base_prefix, path, user, user_groups, request_info)
            except request_body.BadBody:  # its reason is the request's rejection
                response = None
            except Exception:
                if not spent.exceeded:
                    raise
                response = None
        if spent.exceeded:
            return self._rejection_response(request_state.Rejection(
                client.SERVICE_UNAVAILABLE, None,
                f"{spent.reason}; ask for a shorter time range"), request_info)
        return self._unless_rejected(response, request_info)

    def _report(self, environ, base_prefix, path, user, user_groups, request_info):
        # Parsed once for every decision here (Radicale and the fast paths read the body again).
        parsed, xml_request = fast_listing._read_body(self, environ, request_info)
        if parsed and xml_request is not None and xml_request.tag == delegation.EXPAND_PROPERTY and user:
            expanded = delegation.expand_property(self, xml_request, base_prefix, path, user, request_info)
            if expanded is not None:
                return expanded
        searched = self._principal_search(parsed, xml_request, base_prefix, user, request_info)
        if searched is not None:
            return searched
        if self.fast_listings:
            answer = (sharing.fast_report(self, environ, base_prefix, path, user, user_groups, request_info)
                      or fast_report.report(self, environ, base_prefix, path, user, user_groups, request_info))
            if answer is not None:
                return answer
        response = super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)
        return self._with_tasks_expanded(response, xml_request if parsed else None, request_info)

    def _with_tasks_expanded(self, response, xml_request, request_info):
        """Radicale's calendar-query answer with CALDAV:expand applied to recurring tasks too
        (``server/todo_expand.py``; Radicale expands events only)."""
        window = todo_expand.requested(xml_request)
        if window is None or response[0] != client.MULTI_STATUS or not isinstance(response[2], bytes):
            return response
        limit = self.configuration.get("reporting", "max_expand_occurrence")
        try:
            expanded = todo_expand.rewrite(response[2], self._encoding, xml_request, window, limit)
        except todo_expand.TooManyInstances as e:
            return self._rejection_response(request_state.Rejection(client.BAD_REQUEST, None, str(e)),
                                            request_info)
        if expanded is None:
            return response
        return response[0], response[1], self._xml_response(expanded, request_info), *response[3:]

    def _principal_search(self, parsed: bool, xml_request, base_prefix, user, request_info):
        """The answer to a principal search REPORT (on any path: clients send it to the principal
        collection or to their own principal), or None for other REPORTs (the body is left as it was)."""
        if not parsed or xml_request is None or xml_request.tag not in search.REPORTS:
            return None
        if not user:
            return httputils.NOT_ALLOWED
        try:
            status, answer = search.answer(xml_request, user, base_prefix, self._storage.connection)
        except search.BadSearch as e:
            return self._rejection_response(request_state.Rejection(client.BAD_REQUEST, None, str(e)),
                                            request_info)
        request_info["status"] = status
        headers = {"Content-Type": f"text/xml; charset={self._encoding}"}
        return status, headers, self._xml_response(answer, request_info), None

    # -- writes: preconditions from storage, reasons for 400 ---------------------
    def do_PUT(self, environ, base_prefix, path, user, user_groups, request_info):
        recorder = _RecordingInput(environ["wsgi.input"], calendar_body_check(self._storage.text_limits),
                                   _content_length(environ))
        environ["wsgi.input"] = recorder
        # Radicale prepares the object (expanding its recurrences) before and after taking the
        # lock, the storage indexes it: all of it under the write's budget.
        with budget.limited(self._storage.expansion_seconds, EXPANDING) as spent:
            try:
                response = super().do_PUT(environ, base_prefix, path, user, user_groups, request_info)
            except Exception:
                if not spent.exceeded:
                    raise
                response = None  # raised inside the storage's transaction: rolled back
        if spent.exceeded:
            return self._rejection_response(
                request_state.Rejection(client.FORBIDDEN, VALID_OBJECT, spent.reason), request_info)
        response = self._unless_share_refused(self._unless_rejected(response, request_info), environ, base_prefix,
                                              path, user, request_info)
        if response[0] == client.BAD_REQUEST and request_state.current().rejection is None:
            reason = explain_bad_calendar_body(bytes(recorder.data), self._encoding,
                                               self._max_vevent_rrule_occurrence)
            return (client.BAD_REQUEST, {"Content-Type": "text/plain; charset=utf-8"},
                    f"Bad Request: {reason}", None)
        if response[0] == client.PRECONDITION_FAILED:
            body = bytes(recorder.data).decode(self._charset_of(environ))  # CheckedInput made sure it decodes
            rejection = put_refusal.explain(self, environ, path, user, body)
            if rejection is not None:
                return self._rejection_response(rejection, request_info)
        return delivery.after_write(self._storage, response)

    def do_GET(self, environ, base_prefix, path, user, user_groups, request_info):  # HEAD too
        # An item is read with its Schedule-Tag in one statement (Storage._find), its own snapshot;
        # a collection's GET (a path ending in "/") reads more, in one read transaction.
        with self._storage.acquire_lock("r", user, one_statement=not path.endswith("/")):
            return tags.with_schedule_tag(self._storage, path, super().do_GET(
                environ, base_prefix, path, user, user_groups, request_info))

    def do_OPTIONS(self, environ, base_prefix, path, user, user_groups, request_info):
        # Radicale lists the methods from dir(self) on every OPTIONS: a sorted walk of this
        # class's hundreds of attributes, a tenth of the request's CPU; they do not change.
        return client.OK, {"Allow": self._allowed_methods, "DAV": httputils.DAV_HEADERS}, None, None

    @functools.cached_property
    def _allowed_methods(self) -> str:
        return ", ".join(name[3:] for name in dir(self) if name.startswith("do_"))

    # -- scheduling: free-busy by POST to the outbox (server/scheduling/freebusy_post.py) --
    def do_POST(self, environ, base_prefix, path, user, user_groups, request_info):
        answer = freebusy_post.post(self, environ, path, user, request_info)
        if answer is not None:
            return answer
        return super().do_POST(environ, base_prefix, path, user, user_groups, request_info)

    def do_MOVE(self, environ, base_prefix, path, user, user_groups, request_info):
        return self._unless_share_refused(self._unless_rejected(
            super().do_MOVE(environ, base_prefix, path, user, user_groups, request_info), request_info),
            environ, base_prefix, path, user, request_info)

    def do_DELETE(self, environ, base_prefix, path, user, user_groups, request_info):
        try:
            response = super().do_DELETE(environ, base_prefix, path, user, user_groups, request_info)
        except request_state.StorageRejection:
            # Radicale lets storage errors of DELETE escape (the transaction rolls back).
            if request_state.current() is None or request_state.current().rejection is None:
                raise
            response = None
        response = delivery.after_write(self._storage, self._unless_share_refused(
            self._unless_rejected(response, request_info), environ, base_prefix, path, user, request_info))
        if response[0] == client.NOT_FOUND and "HTTP_IF_MATCH" in environ:
            # RFC 9110 §13.1.1: If-Match is false without a current representation. A client
            # deleting what another one deleted first must learn its precondition lost.
            return self._rejection_response(request_state.Rejection(
                client.PRECONDITION_FAILED, None,
                f"nothing is stored at this path any more, so If-Match: {environ['HTTP_IF_MATCH']} "
                "cannot match"), request_info)
        return response

    def do_PROPPATCH(self, environ, base_prefix, path, user, user_groups, request_info):
        group = delegation.proppatch(self, environ, base_prefix, path, user, request_info)
        if group is not None:
            return group
        response = self._unless_rejected(
            super().do_PROPPATCH(environ, base_prefix, path, user, user_groups, request_info), request_info)
        if response[0] == client.FORBIDDEN:  # the reason: a read share, a proxy, or read-write at the owner's path
            rejection = (self._write_refusal(user, path) or sharing.properties_refusal(self._storage, user, path))
            if rejection is not None:
                return self._rejection_response(rejection, request_info)
        return response

    def do_MKCALENDAR(self, environ, base_prefix, path, user, user_groups, request_info):
        if delegation.refusal(path) is not None:
            return self._rejection_response(delegation.refusal(path), request_info)
        return self._unless_rejected(
            super().do_MKCALENDAR(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def do_MKCOL(self, environ, base_prefix, path, user, user_groups, request_info):
        if delegation.refusal(path) is not None:
            return self._rejection_response(delegation.refusal(path), request_info)
        return self._unless_rejected(
            super().do_MKCOL(environ, base_prefix, path, user, user_groups, request_info), request_info)

    def _unless_rejected(self, response, request_info):
        state = request_state.current()
        if state is not None and state.rejection is not None:
            return self._rejection_response(state.rejection, request_info)
        return response

    def _unless_share_refused(self, response, environ, base_prefix: str, path: str, user: str, request_info):
        """A write refused (403) because the calendar, or the MOVE's destination, is shared with
        the user read-only, or belongs to a user whose read proxy they are, is answered with the reason."""
        if response[0] != client.FORBIDDEN:
            return response
        destination = unquote(urlsplit(environ.get("HTTP_DESTINATION", "")).path)
        for refused in (path, destination[len(base_prefix):] if destination else None):
            rejection = self._write_refusal(user, refused) if refused else None
            if rejection is not None:
                return self._rejection_response(rejection, request_info)
        return response

    def _write_refusal(self, user: str, path: str):
        """Why a write to ``path`` was refused: a read share, or ``user`` is the owner's proxy; or None."""
        return sharing.refusal(path) or delegation.write_refusal(self._storage, user, path)

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


def _wsgi(status: int, headers: dict, body: bytes):
    """A response in the form ``_handle_request`` returns."""
    headers = {**headers, "Content-Length": str(len(body))}
    return f"{status} {client.responses[status]}", list(headers.items()), [body]


def _unless_database_unavailable(method):
    """Radicale turns any exception of a ``do_*`` method into a 500: a database that
    cannot serve gets a 503 instead."""
    @functools.wraps(method)
    def answer(self, environ, *args, **kwargs):
        try:
            return method(self, environ, *args, **kwargs)
        except Exception as e:
            if not availability.is_database_unavailable(e):
                raise
            return self._database_unavailable(environ, e)
    return answer


for _name in [name for name in dir(PlanerixApplication) if name.startswith("do_")]:
    setattr(PlanerixApplication, _name, _unless_database_unavailable(getattr(PlanerixApplication, _name)))
