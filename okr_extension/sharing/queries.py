"""The sharing API's statements (the tables are storage migration 0010's)."""
import sqlalchemy as sa

from storage_plugin.sharing.queries import GRANTED, RANK

_SHARE_COLUMNS = ("s.id, '/' || c.path || '/' AS calendar, s.owner, s.grantee_account AS user,"
                  " s.grantee_squad AS squad, s.grantee_organisation AS organisation, s.access")

CALENDAR = sa.text("SELECT id, path, tag, kind FROM collection WHERE path = :path")
ACCOUNT_EXISTS = sa.text("SELECT 1 FROM account WHERE name = :name AND left(name, 1) <> '.'")
SQUAD_ORGANISATION = sa.text("SELECT organisation_id FROM squad WHERE id = :id")
INSERT_SHARE = sa.text(
    "INSERT INTO calendar_share (owner, collection_id, grantee_account, grantee_squad, grantee_organisation,"
    " access) VALUES (:owner, :cid, :user, :squad, :organisation, :access) RETURNING id")
SHARE = sa.text(f"SELECT {_SHARE_COLUMNS} FROM calendar_share s JOIN collection c ON c.id = s.collection_id"
                " WHERE s.id = :id AND s.owner = :owner")
OWN_SHARES = sa.text(f"SELECT {_SHARE_COLUMNS} FROM calendar_share s JOIN collection c ON c.id = s.collection_id"
                     " WHERE s.owner = :owner ORDER BY s.id")
SHARED_WITH_ME = sa.text(
    "SELECT DISTINCT ON (c.id) '/' || c.path || '/' AS calendar, c.path, s.owner, s.access"
    " FROM calendar_share s JOIN collection c ON c.id = s.collection_id"
    f" WHERE {GRANTED} AND s.owner <> :user ORDER BY c.id, {RANK} DESC")
UPDATE_SHARE = sa.text("UPDATE calendar_share SET access = :access WHERE id = :id AND owner = :owner RETURNING id")
DELETE_SHARE = sa.text("DELETE FROM calendar_share WHERE id = :id AND owner = :owner RETURNING id")

SQUADS = sa.text(
    "SELECT q.id, q.organisation_id AS organisation, q.name,"
    "       coalesce(array_agg(m.account ORDER BY m.account) FILTER (WHERE m.account IS NOT NULL), '{}') AS members"
    " FROM squad q LEFT JOIN squad_member m ON m.squad_id = q.id"
    " WHERE q.organisation_id = :organisation AND (CAST(:id AS bigint) IS NULL OR q.id = :id)"
    " GROUP BY q.id ORDER BY q.name, q.id")
INSERT_SQUAD = sa.text("INSERT INTO squad (organisation_id, name) VALUES (:organisation, :name) RETURNING id")
RENAME_SQUAD = sa.text("UPDATE squad SET name = :name WHERE id = :id")
DELETE_SQUAD = sa.text("DELETE FROM squad WHERE id = :id AND organisation_id = :organisation RETURNING id")
CLEAR_MEMBERS = sa.text("DELETE FROM squad_member WHERE squad_id = :id")
NON_MEMBERS = sa.text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE NOT EXISTS"
    " (SELECT 1 FROM membership m WHERE m.organisation_id = :organisation AND m.account = name)")
ADD_MEMBERS = sa.text(
    "INSERT INTO squad_member (squad_id, organisation_id, account)"
    " SELECT :id, :organisation, name FROM unnest(CAST(:names AS text[])) AS name")
