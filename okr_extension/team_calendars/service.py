"""Team calendars: the organisation's team account, its calendars, and the share that gives each
to the members (or a squad). Writes go through the storage's writer, so a new calendar and its
share commit together."""
from __future__ import annotations

import re
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from okr_extension.sharing import queries as sharing_queries
from storage_plugin import accounts, directory, writer
from storage_plugin.sharing.access import access_of, mount_name

_TEAM_ACCOUNT = sa.text("SELECT account FROM team_account WHERE organisation_id = :organisation")
_NEW_TEAM_ACCOUNT = sa.text("INSERT INTO team_account (organisation_id, account) VALUES (:organisation, :account)"
                            " ON CONFLICT (organisation_id) DO NOTHING RETURNING account")
_CALENDARS = sa.text("""
    SELECT c.id, c.path, c.props->>'D:displayname' AS name,
           coalesce(c.props->>'C:supported-calendar-component-set', '') = 'VTODO' AS tasks,
           s.grantee_squad AS squad, s.access
    FROM team_account t JOIN calendar_share s ON s.owner = t.account
    JOIN collection c ON c.id = s.collection_id
    WHERE t.organisation_id = :organisation
      AND (s.grantee_organisation = :organisation OR s.grantee_squad IS NOT NULL)
    ORDER BY c.id""")


def team_account(engine: sa.Engine, organisation_id: uuid.UUID, organisation_name: str) -> str:
    """The organisation's team account, created on first use (no password; its display name the
    organisation's, as members' apps show the owner of its calendars)."""
    with engine.begin() as conn:
        found = conn.execute(_TEAM_ACCOUNT, {"organisation": organisation_id}).scalar()
        if found is not None:
            return found
        name = f"team-{organisation_id.hex[:12]}"
        conn.execute(postgresql.insert(accounts.account).values(
            name=name, password_hash=accounts.NO_PASSWORD, cutype="GROUP").on_conflict_do_nothing())
        # A display name holds no control characters (an organisation's name may).
        shown = "".join(c for c in organisation_name if c.isprintable())[:200].strip()
        directory.set_identity(conn, name, display_name=shown or None)
        return conn.execute(_NEW_TEAM_ACCOUNT, {"organisation": organisation_id, "account": name}).scalar() \
            or conn.execute(_TEAM_ACCOUNT, {"organisation": organisation_id}).scalar()


def _slug(name: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "calendar"
    return f"{words}-{secrets.token_hex(3)}"


def create(storage, organisation_id: uuid.UUID, organisation_name: str, body) -> int:
    """A new team calendar and the share that gives it to the members (or the squad); its id."""
    team = team_account(storage.engine, organisation_id, organisation_name)
    props = {"D:displayname": body.name, "C:supported-calendar-component-set": "VTODO" if body.tasks else "VEVENT"}

    def share(conn, collection_id: int) -> int:
        conn.execute(sharing_queries.INSERT_SHARE, {
            "owner": team, "cid": collection_id, "user": None, "squad": body.squad,
            "organisation": None if body.squad is not None else organisation_id, "access": body.access})
        return collection_id

    return writer.create_calendar(storage, team, f"{team}/{_slug(body.name)}", props, then=share)


def listed(conn: sa.Connection, organisation_id: uuid.UUID, user: str) -> list[dict]:
    rows = conn.execute(_CALENDARS, {"organisation": organisation_id}).all()
    return [{"id": row.id, "calendar": f"/{row.path}/", "name": row.name or "", "tasks": row.tasks,
             "squad": row.squad, "access": row.access,
             "mount": f"/{user}/{mount_name(row.path)}/" if access_of(conn, user, row.path) else None}
            for row in rows]


def delete(storage, organisation_id: uuid.UUID, calendar_id: int) -> bool:
    """Delete one of the organisation's calendars with its items (its shares go with it)."""
    with storage.engine.connect() as conn:
        path = next((row.path for row in conn.execute(_CALENDARS, {"organisation": organisation_id})
                     if row.id == calendar_id), None)
    if path is None:
        return False
    writer.delete_calendar(storage, path.split("/", 1)[0], path)
    return True
