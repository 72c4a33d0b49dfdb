"""Removing an account with everything it owned, or archiving it out of reach (``planerix user``).

What an account owns: its calendars (the collections under ``/<name>/``, with their items, sync
history, occurrence and link index), its link totals, feeds, subscriptions, tokens, memberships,
login-failure counters, and the organisations nobody else belongs to. Tables that reference
``account(name)`` cascade on delete (and, for archiving, on rename); collections and the link
index name their owner in a path or a plain column and are handled here.

Organisations shared with other people stay: the user leaves them, and the goals, check-ins
and measurements the user owned or wrote there pass to a successor (the organisation's first
remaining owner; ``transfer_to`` if the user was its last owner). Removing the last owner of an
organisation that has other members is refused unless ``transfer_to`` names the new owner.

Archiving renames the account to ``.removed-<UTC time>-<name>``: user names cannot start with
a dot, so no account can ever take it, and its password hash is disabled. ``restore`` renames
it back (to the old or a new name), ``purge`` removes it for good.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from storage_plugin import accounts, directory, logins, queries
from storage_plugin.accounts import AccountError

ARCHIVE_PREFIX = ".removed-"
# A disabled hash: argon2 cannot parse it, so no password matches until restore strips the mark.
DISABLED_MARK = "!"

# Organisations the user belongs to, with how many other members and other owners they have.
_MEMBERSHIPS = sa.text("""
    SELECT o.id, o.name,
           count(m.account) FILTER (WHERE m.account <> :name) AS others,
           count(m.account) FILTER (WHERE m.account <> :name AND m.role = 'owner') AS other_owners,
           bool_or(m.account = :name AND m.role = 'owner') AS owner
    FROM organisation o JOIN membership m ON m.organisation_id = o.id
    WHERE o.id IN (SELECT organisation_id FROM membership WHERE account = :name)
    GROUP BY o.id, o.name ORDER BY o.name, o.id""")

_MAKE_OWNER = sa.text("""
    INSERT INTO membership (organisation_id, account, role) VALUES (:organisation, :successor, 'owner')
    ON CONFLICT (organisation_id, account) DO UPDATE SET role = 'owner'""")

# Organisations where the user owns or wrote something, or is a member, but nobody else is a member.
_FORGET_ITEM_EVENTS = sa.text("DELETE FROM automation_event WHERE subject_type IN ('item', 'task')"
                              " AND subject_id LIKE :path ESCAPE '\\'")
_ALONE = """
    SELECT o.id FROM organisation o
    WHERE NOT EXISTS (SELECT 1 FROM membership m WHERE m.organisation_id = o.id AND m.account <> :name)
      AND (EXISTS (SELECT 1 FROM membership m WHERE m.organisation_id = o.id AND m.account = :name)
           OR EXISTS (SELECT 1 FROM objective t WHERE t.organisation_id = o.id AND t.owner = :name)
           OR EXISTS (SELECT 1 FROM key_result t WHERE t.organisation_id = o.id AND t.owner = :name)
           OR EXISTS (SELECT 1 FROM kpi t WHERE t.organisation_id = o.id AND t.owner = :name)
           OR EXISTS (SELECT 1 FROM check_in t WHERE t.organisation_id = o.id AND t.author = :name)
           OR EXISTS (SELECT 1 FROM kpi_measurement t JOIN kpi k ON k.id = t.kpi_id
                      WHERE k.organisation_id = o.id AND t.author = :name))"""

# Per organisation, who takes over what the user owned there: the first remaining owner
# (the new owner named by transfer_to first), else the first remaining member.
_SUCCESSOR = """
    (SELECT m.account FROM membership m WHERE m.organisation_id = {org} AND m.account <> :name
     ORDER BY m.account = :transfer_to DESC NULLS LAST, m.role = 'owner' DESC, m.created, m.account LIMIT 1)"""

# (Organisations without a successor are deleted or archived whole.)
_HAND_OVER = [sa.text(statement.format(successor=_SUCCESSOR.format(org=org))) for statement, org in (
    ("UPDATE objective t SET owner = {successor} WHERE t.owner = :name AND {successor} IS NOT NULL",
     "t.organisation_id"),
    ("UPDATE key_result t SET owner = {successor} WHERE t.owner = :name AND {successor} IS NOT NULL",
     "t.organisation_id"),
    ("UPDATE kpi t SET owner = {successor} WHERE t.owner = :name AND {successor} IS NOT NULL", "t.organisation_id"),
    ("UPDATE check_in t SET author = {successor} WHERE t.author = :name AND {successor} IS NOT NULL",
     "t.organisation_id"),
    ("UPDATE kpi_measurement t SET author = {successor} FROM kpi k "
     "WHERE k.id = t.kpi_id AND t.author = :name AND {successor} IS NOT NULL", "k.organisation_id"),
)]

# The collections of a user: the home /<name>/ and everything under it.
_OWNED_COLLECTIONS = "split_part(path, '/', 1) = :name"
_RENAME_COLLECTIONS = sa.text(f"""
    UPDATE collection SET owner = :new, path = :new || substr(path, length(:name) + 1),
                          parent_path = CASE WHEN split_part(parent_path, '/', 1) = :name
                                             THEN :new || substr(parent_path, length(:name) + 1)
                                             ELSE parent_path END
    WHERE {_OWNED_COLLECTIONS}""")


@dataclass
class Removal:
    """What a removal or an archive did, for the command line to report."""
    name: str
    archived_as: str | None = None
    deleted_organisations: list[str] = field(default_factory=list)
    kept_organisations: list[str] = field(default_factory=list)  # archived with the account
    handed_over: dict[str, str] = field(default_factory=dict)  # organisation name -> successor
    collections: int = 0


def archive_name(name: str, now: dt.datetime) -> str:
    return f"{ARCHIVE_PREFIX}{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{name}"


def original_name(archived: str) -> str:
    if not archived.startswith(ARCHIVE_PREFIX) or "-" not in archived[len(ARCHIVE_PREFIX):]:
        raise AccountError(f"{archived!r} is not an archived account (see `planerix user list --archived`)")
    return archived[len(ARCHIVE_PREFIX):].split("-", 1)[1]


def remove(engine: sa.Engine, name: str, transfer_to: str | None = None, keep_data: bool = False,
           now: dt.datetime | None = None) -> Removal:
    """Delete (or, with keep_data, archive) ``name`` and all it owned, in one transaction."""
    if name.startswith(ARCHIVE_PREFIX):
        raise AccountError(f"{name!r} is an archive: use `planerix user purge` or `planerix user restore`")
    with engine.begin() as conn:
        return _remove(conn, name, transfer_to, keep_data, now or dt.datetime.now(dt.timezone.utc))


def purge(engine: sa.Engine, archived: str) -> Removal:
    """Delete an archived account and its data for good."""
    original_name(archived)
    with engine.begin() as conn:
        return _remove(conn, archived, None, False, None)


def restore(engine: sa.Engine, archived: str, new_name: str | None = None) -> str:
    """Give an archived account back its data and password under its old (or a new) name."""
    original = original_name(archived)  # (also refuses a name that is no archive)
    name = accounts.check_name(new_name or original)
    with engine.begin() as conn:
        if not _lock_account(conn, archived):
            raise AccountError(f"no archived account {archived!r}")
        if _lock_account(conn, name):
            raise AccountError(f"user {name!r} exists: restore under another name with --as NAME")
        _rename(conn, archived, name)
        conn.execute(sa.text("UPDATE account SET password_hash = substr(password_hash, :cut) "
                             "WHERE name = :name AND starts_with(password_hash, :mark)"),
                     {"name": name, "mark": DISABLED_MARK, "cut": len(DISABLED_MARK) + 1})
        conn.execute(sa.text("UPDATE feed_subscription SET next_run = now() WHERE owner = :name"), {"name": name})
    return name


def archived_names(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM account WHERE starts_with(name, :prefix) "
                                         "ORDER BY name"), {"prefix": ARCHIVE_PREFIX}).scalars())


def _lock_account(conn: sa.Connection, name: str) -> bool:
    """Lock the account row and, like a CalDAV write, the user's calendars (storage's owner lock)."""
    conn.execute(queries.LOCK_OWNER, {"key": "planerix:" + name})
    return conn.execute(sa.text("SELECT 1 FROM account WHERE name = :name FOR UPDATE"), {"name": name}).first() \
        is not None


def remove_in(conn: sa.Connection, name: str) -> Removal:
    """Remove ``name`` with everything it owns, in the caller's transaction (an organisation's
    team account and rooms when the organisation goes)."""
    return _remove(conn, name, None, False, None)


def _remove(conn: sa.Connection, name: str, transfer_to: str | None, keep_data: bool,
            now: dt.datetime | None) -> Removal:
    if not _lock_account(conn, name):
        raise AccountError(f"no user {name!r}")
    if transfer_to is not None and (transfer_to == name or transfer_to.startswith(ARCHIVE_PREFIX)
                                    or not _lock_account(conn, transfer_to)):
        raise AccountError(f"--transfer-to must name another existing user, not {transfer_to!r}")
    report = Removal(name)
    params = {"name": name, "transfer_to": transfer_to}
    _leave_shared_organisations(conn, params, report)
    # Events about the user's calendar items (organisations' event logs name their paths).
    conn.execute(_FORGET_ITEM_EVENTS, {"path": directory.like_escaped(name) + "/%"})
    alone = [row.id for row in conn.execute(sa.text(_ALONE), params)]
    names = dict(conn.execute(sa.text("SELECT id, name FROM organisation WHERE id = ANY(:ids)"), {"ids": alone}).all())
    if keep_data:
        report.kept_organisations = sorted(names.values())
        report.archived_as = archive_name(name, now)
        # Out of reach means unreachable from outside too: published URLs and tokens die,
        # subscriptions stop fetching (restore resumes them).
        conn.execute(sa.text("DELETE FROM api_token WHERE account = :name"), params)
        conn.execute(sa.text("DELETE FROM web_session WHERE account = :name"), params)
        conn.execute(sa.text("DELETE FROM published_feed_token WHERE owner = :name"), params)  # and the feeds
        conn.execute(sa.text("UPDATE feed_subscription SET next_run = 'infinity' WHERE owner = :name"), params)
        conn.execute(sa.text("UPDATE account SET password_hash = :mark || password_hash WHERE name = :name"),
                     {**params, "mark": DISABLED_MARK})
        report.collections = _rename(conn, name, report.archived_as)
    else:
        report.deleted_organisations = sorted(names.values())
        conn.execute(sa.text("DELETE FROM organisation WHERE id = ANY(:ids)"), {"ids": alone})
        # Items cascade with their collection: occurrences, links, tombstones, feeds, subscriptions.
        report.collections = conn.execute(sa.text(f"DELETE FROM collection WHERE {_OWNED_COLLECTIONS}"),
                                          params).rowcount
        # Totals of links the user's items made (emptied by the item_link trigger above).
        conn.execute(sa.text("DELETE FROM link_total WHERE owner = :name"), params)
        try:
            conn.execute(sa.text("DELETE FROM account WHERE name = :name"), params)
        except sa.exc.IntegrityError as e:
            table = getattr(e.orig.diag, "table_name", None) or "another table"
            raise AccountError(f"user {name!r} is still named in {table}, which account removal does not "
                               "know yet: nothing was removed") from None
    conn.execute(logins.CLEAR_ACCOUNT, {"account": logins.account_key(name)})
    return report


def _leave_shared_organisations(conn: sa.Connection, params: dict, report: Removal) -> None:
    """Refuse to orphan a team, name the new owners, leave, and hand over what the user owned."""
    shared = [row for row in conn.execute(_MEMBERSHIPS, params) if row.others]
    orphaned = [row for row in shared if row.owner and not row.other_owners]
    if orphaned and params["transfer_to"] is None:
        listed = ", ".join(f"{row.name!r} ({row.id}, {row.others} other member{'s' * (row.others > 1)})"
                           for row in orphaned)
        raise AccountError(f"user {params['name']!r} is the last owner of {listed}: name a new owner with "
                           "--transfer-to USER (it becomes an owner of these organisations); nothing was removed")
    for row in orphaned:
        conn.execute(_MAKE_OWNER, {"organisation": row.id, "successor": params["transfer_to"]})
    for statement in _HAND_OVER:
        conn.execute(statement, params)
    conn.execute(sa.text("DELETE FROM membership WHERE account = :name AND organisation_id = ANY(:ids)"),
                 {**params, "ids": [row.id for row in shared]})
    for row in shared:
        successor = conn.execute(sa.text(_SUCCESSOR.format(org=":organisation")),
                                 {**params, "organisation": row.id}).scalar()
        report.handed_over[row.name] = successor


def _rename(conn: sa.Connection, old: str, new: str) -> int:
    """Move an account, its calendars and its link index to another name."""
    params = {"name": old, "new": new}
    # Foreign keys to account(name) follow (ON UPDATE CASCADE), and so do those to the collections'
    # owner: items, their occurrences and links, tombstones, subscriptions (storage migration 0023).
    conn.execute(sa.text("UPDATE account SET name = :new WHERE name = :name"), params)
    moved = conn.execute(_RENAME_COLLECTIONS, params).rowcount
    conn.execute(sa.text("UPDATE link_total SET owner = :new WHERE owner = :name"), params)
    return moved
