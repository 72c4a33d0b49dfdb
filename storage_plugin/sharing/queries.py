"""Statements over shares (storage migration 0010) and delegations (0018): which shares reach a
user, directly, through a squad or through an organisation, what the user's delegators grant, and
the strongest access among them. Organisation
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

# What a delegation (migration 0018) grants on one of the delegator's collections, as a share's access:
# every calendar and task list (never the scheduling inbox or outbox, nor address books). An
# archived delegator (renamed with a leading dot) is out of reach until restored.
DELEGATED = "CASE d.access WHEN 'write' THEN 'read-write' ELSE 'read' END"
DELEGABLE = "c.tag = 'VCALENDAR' AND c.kind = 'normal' AND left(d.delegator, 1) <> '.'"

# The strongest access :user has on the collection c, through a share or a delegation (NULL: none).
_STRONGEST = (
    "(SELECT s.access FROM ("
    f"  SELECT s.access FROM calendar_share s WHERE s.collection_id = c.id AND {GRANTED}"
    f"  UNION ALL SELECT {DELEGATED} FROM calendar_delegation d"
    f"  WHERE d.delegator = split_part(c.path, '/', 1) AND d.delegate = :user AND {DELEGABLE}"
    f") AS s ORDER BY {RANK} DESC LIMIT 1)")
ACCESS_OF = sa.text(f"SELECT {_STRONGEST} FROM collection c WHERE c.path = :path")
# The same for every collection in :owner's home at once (a proxy's listing of it).
ACCESSES_IN_HOME = sa.text(f"SELECT c.path, {_STRONGEST} AS access FROM collection c WHERE c.parent_path = :owner")

# A delegate reads the delegator's home (the principal, and the listing of what it may use).
HOME_ACCESS = sa.text(
    "SELECT 'read' FROM calendar_delegation WHERE delegator = :owner AND delegate = :user"
    " AND left(delegator, 1) <> '.'")

# Collections :user may read through a share or a delegation (for the sidecar's reads, as a sub-select).
READABLE_SHARED = ("SELECT s.collection_id FROM calendar_share s"
                   f" WHERE s.access IN ('read', 'read-write') AND {GRANTED}"
                   " UNION ALL SELECT c.id FROM calendar_delegation d JOIN collection c"
                   f" ON c.parent_path = d.delegator WHERE d.delegate = :user AND {DELEGABLE}")

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
