"""The one rights decision: what a user may do with a collection (``access_of``)."""
from __future__ import annotations

from typing import Optional

from storage_plugin.sharing import queries

# Weakest to strongest; "owner" is implied by the path (a user owns what lies under /<user>/).
ACCESSES = ("free-busy", "read", "read-write")
# Radicale's permission letters for a calendar or address book reached through a share or a
# delegation: "read-write" changes items, never deletes (d) or replaces (o) the owner's collection
# nor changes its properties (l: PROPPATCH refused, no DAV:write-properties), which would let a
# sharee or proxy turn it into a plain collection or make its busy time transparent.
_PERMISSIONS = {"owner": "rw", "read-write": "rwdol", "read": "r", "free-busy": "f"}
# What a share's mount (/bob/alice~team/) lets its sharee do: Radicale stores a PROPPATCH there as
# the sharee's own view (its properties overlay), never on the owner's collection, so it stays allowed.
_OWN_VIEW_LOCKED = "l"
# Separates the owner from the calendar name in a mount (/bob/alice~team/).
MOUNT_SEPARATOR = "~"


def access_of(conn, user: str, path: str) -> Optional[str]:
    """"owner", "read-write", "read", "free-busy" or None for ``user`` on the collection at
    ``path`` (``/alice/team/`` or ``alice/team``; an item's path names its collection), through a
    share or a delegation (a write proxy has "read-write" on every calendar and task list of the
    delegator, a read proxy "read"; on the delegator's home, both "read"). One indexed query for
    another user's collection, none for the user's own."""
    sane = path.strip("/")
    if not user or not sane:
        return None
    parts = sane.split("/")
    if parts[0] == user:
        return "owner"
    if len(parts) < 2:  # another user's home: readable by their proxies (delegation)
        return conn.execute(queries.HOME_ACCESS, {"user": user, "owner": parts[0]}).scalar()
    return conn.execute(queries.ACCESS_OF, {"user": user, "path": "/".join(parts[:2])}).scalar()


def accesses_in_home(conn, user: str, owner: str) -> dict[str, Optional[str]]:
    """``access_of`` for each collection in ``owner``'s home ("alice/team" → "read"...), in one query."""
    return dict(conn.execute(queries.ACCESSES_IN_HOME, {"user": user, "owner": owner}).all())


def permissions_of(access: Optional[str]) -> str:
    """Radicale's permission letters for an access (owner_only's for the owner)."""
    return _PERMISSIONS.get(access or "", "")


def mount_permissions_of(access: Optional[str]) -> str:
    """Radicale's permission letters of a share's mount: ``permissions_of`` but the sharee may
    rename and recolour their own view of it."""
    return permissions_of(access).replace(_OWN_VIEW_LOCKED, "")


def mount_name(collection_path: str) -> str:
    """The name under which the collection ``alice/team`` appears in a sharee's home."""
    return collection_path.strip("/").replace("/", MOUNT_SEPARATOR, 1)


def mounted_paths(name: str) -> list[str]:
    """The collection paths a mount name may stand for (an account name may hold the separator)."""
    return [name[:i] + "/" + name[i + 1:] for i, c in enumerate(name) if c == MOUNT_SEPARATOR]


def mount_of(path: str, user: str) -> Optional[tuple[str, str]]:
    """(mount name, the rest of the path) when ``path`` may be a calendar shared with ``user``
    (``/<user>/<owner>~<name>/...``), else None."""
    parts = path.strip("/").split("/", 2)
    if len(parts) < 2 or parts[0] != user or MOUNT_SEPARATOR not in parts[1]:
        return None
    return parts[1], parts[2] if len(parts) > 2 else ""
