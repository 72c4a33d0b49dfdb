"""The Schedule-Tag of scheduling objects: the header on GET/HEAD and the CALDAV:schedule-tag
property in PROPFIND and REPORT answers (RFC 6638 §3.2.10, §9.3)."""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from http import client

import sqlalchemy as sa
from radicale import pathutils

from server.scheduling.principal import clark, response_path, set_props
from storage_plugin import request_state

SCHEDULE_TAG = clark("C:schedule-tag")
_TAG_OF = sa.text("SELECT i.schedule_tag FROM item i JOIN collection c ON c.id = i.collection_id "
                  "WHERE c.path = :path AND i.href = :href")
_TAGS_OF = sa.text("SELECT w.cpath || '/' || w.href AS path, i.schedule_tag "
                   "FROM unnest(CAST(:cpaths AS text[]), CAST(:hrefs AS text[])) AS w(cpath, href) "
                   "JOIN collection c ON c.path = w.cpath "
                   "JOIN item i ON i.collection_id = c.id AND i.href = w.href "
                   "WHERE i.schedule_tag IS NOT NULL")


def with_schedule_tag(storage, path: str, response):
    if response is None or response[0] != client.OK or path.endswith("/"):
        return response
    status, headers, *rest = response
    sane = pathutils.strip_path(path)
    collection, href = posixpath.dirname(sane), posixpath.basename(sane)
    if not collection or not isinstance(headers, dict):
        return response
    state = request_state.current()
    if state is not None and sane in state.schedule_tags:  # looked up with the item (Storage._find)
        tag = state.schedule_tags[sane]
    else:
        with storage.connection() as conn:
            tag = conn.execute(_TAG_OF, {"path": collection, "href": href}).scalar()
    if tag is None:
        return response
    return (status, {**headers, "Schedule-Tag": f'"{tag}"'}, *rest)


def complete(multistatus: ET.Element, base_prefix: str, conn_factory) -> None:
    """Answer C:schedule-tag for the items in ``multistatus`` that asked for it."""
    wanted = []
    for response in multistatus.iter(clark("D:response")):
        if any(e.tag == SCHEDULE_TAG for e in response.iter(SCHEDULE_TAG)):
            href = response.find(clark("D:href"))
            path = response_path(href.text or "", base_prefix) if href is not None else None
            if path:
                wanted.append((path, response))
    if not wanted:
        return
    with conn_factory() as conn:
        found = dict(conn.execute(_TAGS_OF, {"cpaths": [posixpath.dirname(p) for p, _ in wanted],
                                             "hrefs": [posixpath.basename(p) for p, _ in wanted]}).all())

    for path, response in wanted:
        def value(tag, path=path):
            if path not in found:
                return None
            element = ET.Element(SCHEDULE_TAG)
            element.text = f'"{found[path]}"'
            return element
        set_props(response, value, {SCHEDULE_TAG})
