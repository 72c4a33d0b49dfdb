"""Sync tokens: ``http://planerix.org/ns/sync/<collection id>-<revision>``.

The collection id makes a token from another collection (or from a deleted and
re-created one) recognisable; the revision points into the per-collection
change history kept in ``item.revision`` and ``tombstone.revision``.
"""
from __future__ import annotations

PREFIX = "http://planerix.org/ns/sync/"


def make(collection_id: int, revision: int) -> str:
    return f"{PREFIX}{collection_id}-{revision}"


def parse(token: str, collection_id: int, current_revision: int, history_floor: int) -> int:
    """The revision a client token stands for; ValueError (→ 403 valid-sync-token) if unusable."""
    if not token.startswith(PREFIX):
        raise ValueError(f"malformed sync token {token!r}")
    owner, _, revision_text = token[len(PREFIX):].partition("-")
    if not (owner.isdigit() and revision_text.isdigit()):
        raise ValueError(f"malformed sync token {token!r}")
    if int(owner) != collection_id:
        raise ValueError(f"sync token {token!r} belongs to another collection")
    revision = int(revision_text)
    if revision > current_revision:
        raise ValueError(f"sync token {token!r} is from the future")
    if revision < history_floor:
        raise ValueError(f"sync token {token!r} is older than the retained history")
    return revision
