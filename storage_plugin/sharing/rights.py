"""The Radicale rights plugin of Planerix (``[rights] type = storage_plugin.sharing.rights``).

Radicale's ``owner_only`` for a user's own home, and for another user's calendar what a share
or a delegation grants (``access.access_of``); a delegator's home is readable by their proxies.
Answers are remembered for the current request only (Radicale asks several times per request),
never across requests: a revoked share or delegation stops at once.
"""
from __future__ import annotations

from radicale import pathutils
from radicale import rights as radicale_rights

from storage_plugin import database, request_state
from storage_plugin.sharing.access import access_of, accesses_in_home, permissions_of


class Rights(radicale_rights.BaseRights):

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        self._engine = database.engine_for(database.url_from(configuration))

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        if not user:
            return ""
        sane = pathutils.strip_path(path)
        if not sane:
            return "R"
        parts = sane.split("/")
        if parts[0] == user:  # owner_only
            return "RW" if len(parts) == 1 else "rw" if len(parts) == 2 else ""
        if len(parts) > 2:
            return ""
        state = request_state.current()
        memo = state.rights_memo if state is not None else {}
        key = (user, sane)
        if key not in memo:
            with database.reading(self._engine) as conn:
                access = access_of(conn, user, sane)
                if len(parts) == 1 and access:
                    # Another user's home, read by their proxy (the principal, and a listing of what
                    # they may use): a listing asks next for each collection in it, all answered at once.
                    for path, found in accesses_in_home(conn, user, parts[0]).items():
                        memo.setdefault((user, path), permissions_of(found))
            memo[key] = ("R" if access else "") if len(parts) == 1 else permissions_of(access)
        return memo[key]
