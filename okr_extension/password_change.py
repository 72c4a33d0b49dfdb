"""Changing a password (``planerix user passwd``): the personal API tokens go with the old one.

A changed password usually means the old one leaked; tokens minted with it must not outlive
it. Basic credentials are checked on every request (the credential cache is keyed by the
stored hash), so the old password stops working at once; dashboard sessions end too.
"""
from __future__ import annotations

import sqlalchemy as sa

from okr_extension.tables import api_token, web_session
from storage_plugin import accounts, logins


def change_password(engine: sa.Engine, name: str, password: str, keep_tokens: bool = False) -> int:
    """Set the password; returns how many tokens were revoked (none with keep_tokens)."""
    with engine.begin() as conn:
        accounts.update_password(conn, name, password)
        # An administrator's reset also lifts a lockout of the account.
        conn.execute(logins.CLEAR_ACCOUNT, {"account": logins.account_key(name)})
        # Dashboard sign-ins end with the old password, whatever happens to the tokens.
        conn.execute(sa.delete(web_session).where(web_session.c.account == name))
        if keep_tokens:
            return 0
        return conn.execute(sa.delete(api_token).where(api_token.c.account == name)).rowcount
