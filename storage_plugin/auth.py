"""Radicale auth plugin over the ``account`` table: ``[auth] type = storage_plugin.auth``.

Logins go through ``storage_plugin.logins`` (throttled per account and client address, like
the API). A throttled attempt is a failed login for Radicale; ``server.caldav_app`` turns
its 401 into 429 with Retry-After. The same statement reads the account's home, which
Radicale looks up next on every request (``request_state.read_ahead``), and what a read of one
path looks up (``request_state.lookup``: a GET of an item, a Depth-0 PROPFIND), so that such a
request costs one round trip to the database.
"""
from __future__ import annotations

from radicale import auth

from storage_plugin import accounts, database, logins, request_state
from storage_plugin.collection import row_from_json


class Auth(auth.BaseAuth):

    policy = logins.LoginPolicy()
    clock: logins.Clock = staticmethod(logins.server_now)

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        self._engine = database.engine_for(database.url_from(configuration),
                                           database.max_connections_from(configuration))
        self._credentials = accounts.VerifiedCredentials()

    def _login_ext(self, login: str, password: str, context: auth.AuthContext) -> str:
        state = request_state.current()
        read_home = state is not None
        lookup = state.lookup if state is not None else None
        outcome = logins.check(self._engine, self._credentials, login, password,
                               getattr(context, "remote_addr", None), self.policy, self.clock, read_home,
                               lookup)
        if outcome.retry_after is not None:
            request_state.note_throttled(outcome.retry_after)
        if outcome.user and read_home:
            request_state.note_read_ahead(outcome.user,
                                          None if outcome.home is None else row_from_json(outcome.home))
            if lookup is not None:
                # Only after the login succeeded; still to be allowed by the rights, as any read.
                request_state.note_looked_up(lookup, outcome.looked_up or [])
        return outcome.user or ""
