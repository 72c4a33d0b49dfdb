"""Radicale auth plugin over the ``account`` table: ``[auth] type = storage_plugin.auth``."""
from __future__ import annotations

from radicale import auth

from storage_plugin import accounts, database


class Auth(auth.BaseAuth):

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        self._engine = database.engine_for(database.url_from(configuration),
                                           database.max_connections_from(configuration))
        self._credentials = accounts.VerifiedCredentials()

    def _login(self, login: str, password: str) -> str:
        password_hash = accounts.stored_hash(self._engine, login)
        return login if self._credentials.check(login, password, password_hash) else ""
