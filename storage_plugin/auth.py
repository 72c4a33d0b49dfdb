"""Radicale auth plugin over the ``account`` table: ``[auth] type = storage_plugin.auth``.

Logins go through ``storage_plugin.logins`` (throttled per account and client address, like
the API). A throttled attempt is a failed login for Radicale; ``server.caldav_app`` turns
its 401 into 429 with Retry-After.
"""
from __future__ import annotations

from radicale import auth

from storage_plugin import accounts, database, logins, request_state


class Auth(auth.BaseAuth):

    policy = logins.LoginPolicy()
    clock: logins.Clock = staticmethod(logins.server_now)

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        self._engine = database.engine_for(database.url_from(configuration),
                                           database.max_connections_from(configuration))
        self._credentials = accounts.VerifiedCredentials()

    def _login_ext(self, login: str, password: str, context: auth.AuthContext) -> str:
        outcome = logins.check(self._engine, self._credentials, login, password,
                               getattr(context, "remote_addr", None), self.policy, self.clock)
        if outcome.retry_after is not None:
            request_state.note_throttled(outcome.retry_after)
        return outcome.user or ""
