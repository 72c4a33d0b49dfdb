"""Statements over shares (storage migration 0010): which shares reach a user, directly, through
a squad or through an organisation, and the strongest access among them. Organisation
membership is the sidecar's table, read through ``planerix_organisations_of`` (migration 0010),
so the storage works without the sidecar's tables too."""
import sqlalchemy as sa

from storage_plugin.queries import COLLECTION_COLUMNS

# The shares whose grantee is :user, one of :user's squads or one of :user's organisations.
GRANTED = ("(s.grantee_account = :user"
           " OR s.grantee_squad IN (SELECT m.squad_id FROM squad_member m WHERE m.account = :user)"
           " OR s.grantee_organisation IN (SELECT planerix_organisations_of(:user)))")
# Stronger access first.
RANK = "CASE s.access WHEN 'read-write' THEN 3 WHEN 'read' THEN 2 ELSE 1 END"

ACCESS_OF = sa.text(
    "SELECT s.access FROM calendar_share s JOIN collection c ON c.id = s.collection_id"
    f" WHERE c.path = :path AND {GRANTED} ORDER BY {RANK} DESC LIMIT 1")

# Collections :user may read through a share (for the sidecar's reads, as a sub-select).
READABLE_SHARED = ("SELECT s.collection_id FROM calendar_share s"
                   f" WHERE s.access IN ('read', 'read-write') AND {GRANTED}")

# The calendars shared with :user (their strongest access each: the collection's row, its owner,
# the access) with the user's own view.
_SHARED = (
    "SELECT DISTINCT ON (c.id) {columns}, s.owner, s.access, coalesce(v.props, '{{}}'::jsonb) AS view"
    " FROM calendar_share s JOIN collection c ON c.id = s.collection_id"
    " LEFT JOIN share_view v ON v.account = :user AND v.collection_id = c.id"
    f" WHERE {GRANTED} AND s.owner <> :user {{extra}}"
    f" ORDER BY c.id, {RANK} DESC")
_COLUMNS = ", ".join(f"c.{name.strip()}" for name in COLLECTION_COLUMNS.split(","))
SHARED_WITH = sa.text(_SHARED.format(columns=_COLUMNS, extra=""))
SHARED_AMONG = sa.text(_SHARED.format(columns=_COLUMNS, extra="AND c.path = ANY(:paths)"))

SET_VIEW = sa.text(
    "INSERT INTO share_view (account, collection_id, props) VALUES (:user, :cid, CAST(:props AS jsonb))"
    " ON CONFLICT (account, collection_id) DO UPDATE SET props = EXCLUDED.props")
