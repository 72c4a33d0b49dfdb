"""``item.created`` / ``item.changed`` / ``item.deleted`` for calendar items linked to goals, and
``invitation.replied`` when an attendee's answer reaches the organizer's copy of one,
written in the transaction of the write that caused them (CalDAV, imports, the API's link and
unlink, scheduling deliveries, rules: every write goes through ``Storage.write_item`` or
``Collection.remove_item``).

An item's event goes to each organisation that owns a goal it is linked to (or was, before the
write): its webhooks and its event stream. An item linked to no goal makes no event and costs no
query. Idempotency keys name the item's version (its ETag), so a retried transaction records
nothing twice.
"""
from __future__ import annotations

import uuid
from typing import Iterable

from sqlalchemy import text

from . import events, links

GOAL_KINDS = ("objective", "key_result", "kpi")
# Storage migration 0016, given its body by the goals' okr migration 0017.
_ORGANISATIONS = text("SELECT organisation_id, goal_ids FROM planerix_goal_organisations(CAST(:ids AS uuid[]))")
_LINKED_ITEM = text("""
    SELECT i.uid, i.component, i.etag, i.summary, i.status, i.percent_complete, i.due,
           array_agg(l.target_kind ORDER BY l.target_kind, l.target_id) AS kinds,
           array_agg(l.target_id ORDER BY l.target_kind, l.target_id) AS targets,
           array_agg(l.weight ORDER BY l.target_kind, l.target_id) AS weights
    FROM item i JOIN item_link l ON l.item_id = i.id AND l.owner = i.owner
    WHERE i.collection_id = :cid AND i.href = :href AND i.owner = :owner
    GROUP BY i.id, i.owner""")


def _goal_ids(found: Iterable[links.Link]) -> list[str]:
    ids = set()
    for link in found:
        if link.kind in GOAL_KINDS:
            try:
                ids.add(str(uuid.UUID(link.target_id)))
            except ValueError:
                continue
    return sorted(ids)


def _record(conn, kind: str, path: str, href: str, version: str, found: list[links.Link],
            previous: list[links.Link], data: dict) -> None:
    """``version`` names what happened to the item (its new ETag, a delivery) for the idempotency key."""
    ids = _goal_ids([*found, *previous])
    if not ids:
        return
    item_path = f"{path}/{href}"
    data = {**data, "href": f"/{item_path}",
            "links": [{"kind": link.kind, "target_id": link.target_id, "weight": link.weight} for link in found]}
    for row in conn.execute(_ORGANISATIONS, {"ids": ids}):
        subject = events.Subject("item", item_path, row.organisation_id, f"/{item_path}",
                                 tuple(sorted(row.goal_ids, key=str)))
        events.record(conn, kind, subject, f"{kind}:{item_path}:{version}:{row.organisation_id}", None, data)


def _links_in(path: str, href: str, text: str) -> list[links.Link]:
    if "X-PLANERIX-" not in text:  # parse only what may hold links
        return []
    from radicale import item as radicale_item  # Radicale's parser, as on write

    item = radicale_item.Item(collection_path=path, text=text)
    return links.extract(item.vobject_item, item.component_name, f"{path}/{href}")


def invitation_replied(conn, path: str, href: str, text: str, attendee: str, answers: list[dict],
                       delivery: str) -> None:
    """An attendee's answer reached the organizer's copy at ``path/href`` (``text``: the copy
    before it). ``delivery`` names the delivery, so a retried one records nothing twice."""
    found = _links_in(path, href, text)
    if found:
        _record(conn, "invitation.replied", path, href, delivery, found, [],
                {"attendee": attendee, "answers": answers})


def _item_data(uid: str, component: str, summary, status, percent_complete, due) -> dict:
    return {"uid": uid, "component": component, "summary": summary, "status": status,
            "percent_complete": percent_complete, "due": due.isoformat() if due else None}


def after_write(conn, path: str, href: str, item, found: list[links.Link], shown,
                previous_text: str | None, etag: str) -> None:
    """After ``item`` was stored at ``path/href`` with the links ``found`` and the facts ``shown``
    (``previous_text``: the version it replaced, None for a new item; ``etag``: the one served,
    which is the source server's for an imported item that kept it)."""
    previous = _links_in(path, href, previous_text) if previous_text is not None else []
    if not found and not previous:
        return
    kind = "item.created" if previous_text is None else "item.changed"
    _record(conn, kind, path, href, etag, found, previous,
            _item_data(item.uid, item.component_name, shown.summary, shown.status, shown.percent_complete, shown.due))


def before_delete(conn, path: str, collection_id: int, href: str) -> None:
    """Before the item at ``path/href`` is deleted: its goals' organisations hear of it."""
    row = conn.execute(_LINKED_ITEM, {"cid": collection_id, "owner": path.split("/", 1)[0], "href": href}).first()
    if row is None:
        return
    before = [links.Link(kind, target, weight) for kind, target, weight in zip(row.kinds, row.targets, row.weights)]
    _record(conn, "item.deleted", path, href, row.etag, [], before,
            _item_data(row.uid, row.component, row.summary, row.status, row.percent_complete, row.due))
