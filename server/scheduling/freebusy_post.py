"""POST of a VFREEBUSY REQUEST to ``/<user>/schedule-outbox/`` (RFC 6638 §5), as Apple Calendar,
Thunderbird and Evolution send it: a ``C:schedule-response`` with one ``C:response`` per
ATTENDEE, holding a ``METHOD:REPLY`` VFREEBUSY (request-status 2.0), or 3.7 for an address that
is no user the poster may see (unknown and invisible users are answered alike).

Only the outbox's owner may post, and only as ORGANIZER with one of their own addresses. Busy
time comes from the occurrence index (okr_extension.availability.service, the same code as the
REST form); no item is parsed.
"""
from __future__ import annotations

from http import client
from typing import Optional
from xml.sax.saxutils import escape

from radicale import httputils

from okr_extension.availability import service
from scheduling import freebusy as logic
from storage_plugin import clock, directory, request_state
from storage_plugin.freebusy import is_principal_of

OUTBOX = "schedule-outbox"
SUCCESS = "2.0;Success"
INVALID_USER = "3.7;Invalid calendar user"


def outbox_owner(path: str) -> Optional[str]:
    """``alice`` for ``/alice/schedule-outbox/``; None for any other path."""
    parts = path.strip("/").split("/")
    return parts[0] if len(parts) == 2 and parts[1] == OUTBOX and parts[0] else None


def _is_calendar(environ) -> bool:
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == "text/calendar"


def post(app, environ, path: str, user: str, request_info: dict):
    """The answer to a POST on an outbox, or None when ``path`` is not one (Radicale answers)."""
    owner = outbox_owner(path)
    if owner is None:
        return None
    if not user or user != owner:
        return httputils.NOT_ALLOWED  # 401 for anonymous clients (Radicale asks for credentials)
    if not _is_calendar(environ):
        return _refusal(app, request_info, client.UNSUPPORTED_MEDIA_TYPE, None,
                        "post a text/calendar VFREEBUSY request to the outbox")
    try:
        body = httputils.read_raw_request_body(app.configuration, environ)
        text = body.decode(app._charset_of(environ))
        request = logic.parse_request(text)
    except (UnicodeDecodeError, RuntimeError) as e:
        return _refusal(app, request_info, client.BAD_REQUEST, None, f"unreadable body: {e}")
    except logic.FreeBusyError as e:
        return _refusal(app, request_info, client.BAD_REQUEST, "C:valid-calendar-data", str(e))
    storage = app._storage
    with storage.acquire_lock("r", user), storage.connection() as conn:
        own = set(directory.addresses_of(conn, user))
        if directory.normalise_address(request.organizer) not in own and \
                not is_principal_of(request.organizer, user):
            return _refusal(app, request_info, client.FORBIDDEN, "C:organizer-allowed",
                            f"the ORGANIZER {request.organizer} is not one of your addresses "
                            f"({', '.join(sorted(own)) or 'you have no email address yet'})")
        found = service.free_busy(conn, user, request.attendees, request.start, request.end, request.mask_uid)
    return _schedule_response(app, request, found)


def _schedule_response(app, request: logic.FreeBusyRequest, found):
    """The ``C:schedule-response``, written directly: a few elements around each recipient's
    reply (tens of KB for twenty people), with nothing to look up or complete in a tree."""
    now = int(clock.timestamp())
    parts = [f"<?xml version='1.0' encoding='{app._encoding}'?>\n", f"<C:schedule-response {_NAMESPACES}>"]
    for attendee, periods in found.items():
        parts.append(f"<C:response><C:recipient><D:href>{escape(attendee)}</D:href></C:recipient>")
        if periods is None:
            parts.append(f"<C:request-status>{INVALID_USER}</C:request-status></C:response>")
            continue
        parts.append(f"<C:request-status>{SUCCESS}</C:request-status><C:calendar-data>"
                     f"{escape(logic.render_reply(request, attendee, periods, now))}</C:calendar-data></C:response>")
    parts.append("</C:schedule-response>")
    headers = {"Content-Type": f"text/xml; charset={app._encoding}"}
    return client.OK, headers, "".join(parts).encode(app._encoding, "xmlcharrefreplace"), None


_NAMESPACES = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'


def _refusal(app, request_info, status: int, precondition: Optional[str], reason: str):
    return app._rejection_response(request_state.Rejection(status, precondition, reason), request_info)
