"""Radicale's map sharing on PostgreSQL (``[sharing] type = storage_plugin.sharing.mounts``).

Radicale 3.9 maps a path in the sharee's home (``PathOrToken``) to the owner's collection
(``PathMapped``) and runs the request as the owner with the share's permissions; its Depth-1
PROPFIND of a home lists the sharee's shares. Here a share is not a row per sharee but follows
from the shares table: ``/<user>/<owner>~<name>/`` is mounted for every user a share of
``/<owner>/<name>/`` reaches (directly, by squad or by organisation), with the strongest access
granted. Free-busy shares are not listed in homes (clients could not show their events) but
answer free-busy queries at their mount. Shares are managed by the sidecar (``/api/shares``),
so Radicale's own ``POST /.sharing/`` management is refused.
"""
from __future__ import annotations

import json
from http import client
from typing import Optional, Union

from radicale import pathutils
from radicale import sharing as radicale_sharing

from storage_plugin import request_state
from storage_plugin.sharing import queries
from storage_plugin.sharing.access import mount_name, mount_of, mounted_paths, mount_permissions_of

MANAGED_ELSEWHERE = ("shares are managed with the Planerix API (POST /api/shares), "
                     "not with Radicale's /.sharing/ interface")


def _share(user: str, row, rest: str = "") -> dict:
    """Radicale's share record for the calendar ``row`` (path, owner, access, view) seen by ``user``."""
    mount = f"/{user}/{mount_name(row.path)}/"
    request_state.note_share(mount, row.owner, row.access)
    return {"ShareType": "map", "PathOrToken": mount, "PathMapped": f"/{row.path}/{rest}",
            "Owner": row.owner, "User": user, "Permissions": mount_permissions_of(row.access),
            "EnabledByOwner": True, "EnabledByUser": True, "HiddenByOwner": False, "HiddenByUser": False,
            "Properties": dict(row.view or {}), "Conversion": "none", "Actions": None}


class Sharing(radicale_sharing.BaseSharing):

    def database_init(self) -> bool:
        return True  # the tables are the storage's (migration 0010)

    def database_get_info(self) -> dict:
        return {"type": "planerix", "shares": "calendar_share (managed under /api/shares)"}

    def sharing_collection_by_token_resolver(self, path) -> None:
        return None

    def sharing_collection_by_map_resolver(self, path: str, user: str, user_groups: set) -> Optional[dict]:
        """The share a request path in ``user``'s home goes through, with one query, and only for
        a path whose second segment can be a mount; None for anything else."""
        mount = mount_of(path, user)
        if mount is None:
            return None
        name, rest = mount
        with self._storage.connection() as conn:
            row = conn.execute(queries.SHARED_AMONG, {"user": user, "paths": mounted_paths(name)}).first()
        if row is None:
            return None
        share = _share(user, row, rest)
        if not path.endswith("/"):
            share["PathMapped"] = share["PathMapped"].rstrip("/")
        share["PathOrToken"] = path if rest else share["PathOrToken"]
        return share

    def database_list_sharing(self, OwnerOrUser: Union[str, None] = None, ShareType: Union[str, None] = None,
                              PathOrToken: Union[str, None] = None, PathMapped: Union[str, None] = None,
                              User: Union[str, None] = None, **_filters) -> list[dict]:
        """The calendars listed in ``User``'s home. Other lookups (Radicale asks before deleting a
        collection whether it is shared) find nothing: a deleted calendar's shares go with it."""
        if not User or PathMapped is not None or PathOrToken is not None:
            return []
        user = User.split(radicale_sharing.SHARING_SEPARATOR_GROUP, 1)[0]
        with self._storage.connection() as conn:
            rows = [row for row in conn.execute(queries.SHARED_WITH, {"user": user}) if row.access != "free-busy"]
        state = request_state.current()
        if state is not None:  # Radicale's listing discovers each of them next
            state.known_collections.update((row.path, row) for row in rows)
        return [_share(user, row) for row in rows]

    def database_update_sharing(self, ShareType: str, PathOrToken: str, OwnerOrUser: Union[str, None] = None,
                                Properties: Union[dict, None] = None, **_changes) -> dict:
        """The sharee's own name and colour for a shared calendar (a PROPPATCH of their mount)."""
        user = OwnerOrUser or ""
        parts = pathutils.strip_path(PathOrToken).split("/")
        with self._storage.connection() as conn:
            row = conn.execute(queries.SHARED_AMONG, {"user": user, "paths": mounted_paths(parts[-1])}).first()
            if row is None:
                return {"status": "not-found"}
            conn.execute(queries.SET_VIEW, {"user": user, "cid": row.id, "props": json.dumps(Properties or {})})
        return {"status": "success"}

    def post(self, environ, base_prefix, path, user, user_groups, request_info):
        body = f"{client.responses[client.FORBIDDEN]}: {MANAGED_ELSEWHERE}"
        return client.FORBIDDEN, {"Content-Type": "text/plain; charset=utf-8"}, body, None
