"""Why Radicale answered a PUT with 412, when the reason is not a precondition.

Radicale's ``prepare`` flags an item over ``[server] max_resource_size`` with an OverflowError
and answers 412; an OverflowError from date arithmetic (an occurrence ending after 9999-12-31)
takes the same path. Neither is a failed precondition: this module runs ``prepare`` again on
the failure path only, tells the two apart, and names the right status and reason.
"""
from __future__ import annotations

import posixpath
import traceback

from radicale import item as radicale_item
from radicale import pathutils, storage
from radicale.app import put as radicale_put

from storage_plugin import request_state


def _preconditions_failed(environ, item) -> bool:
    """Radicale's own If-Match / If-None-Match checks, which come before ``prepare``'s."""
    if_match = environ.get("HTTP_IF_MATCH", "")
    if if_match and (item is None or if_match not in ("*", item.etag)):
        return True
    return environ.get("HTTP_IF_NONE_MATCH", "") == "*" and item is not None


def _raised_by_size_check(error: BaseException) -> bool:
    """The size check raises a bare OverflowError from ``prepare`` itself."""
    frames = traceback.extract_tb(error.__traceback__)
    return not str(error) and bool(frames) and frames[-1].name == "prepare"


def explain(app, environ, path: str, user: str, body: str) -> request_state.Rejection | None:
    """The rejection Radicale's 412 stands for, or None when it was a real precondition failure."""
    parent_path = posixpath.dirname(pathutils.strip_path(path))
    with app._storage.acquire_lock("r", user):
        item = next(iter(app._storage.discover(path)), None)
        parent = next(iter(app._storage.discover(pathutils.unstrip_path(parent_path, True))), None)
    if _preconditions_failed(environ, item):
        return None
    whole = isinstance(item, storage.BaseCollection) or parent is None or not parent.tag
    try:
        components = radicale_item.read_components(body)
    except Exception:
        return None
    content_type = environ.get("CONTENT_TYPE", "").split(";", maxsplit=1)[0]
    *_, failure = radicale_put.prepare(components, path, content_type, whole, not whole,
                                       app._max_resource_size, app._max_vevent_rrule_occurrence,
                                       None if whole else parent.tag, whole)
    if failure is None or failure[0] is not OverflowError:
        return None
    error = failure[1]
    if _raised_by_size_check(error):
        return request_state.Rejection(
            413, None, f"an item is larger than {app._max_resource_size} bytes, the most this server "
                       "stores per item ([server] max_resource_size)")
    # RFC 4791 §5.3.2.1: a date outside the range the server supports.
    return request_state.Rejection(
        403, "C:max-date-time", f"a date or the end of an occurrence lies beyond what can be stored "
                                f"(9999-12-31 23:59:59): {error}")
