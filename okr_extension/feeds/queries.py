"""Every SQL statement of feed publishing and subscriptions, in one place.

Plain statements with bound parameters (they run on the sidecar's asyncpg
engine and, inside ``storage_plugin.writer`` transactions, on psycopg). The
only composed statement is the item selection of a published feed: fixed
fragments from ``SELECTION_CONDITIONS`` joined by AND, never user text.
"""
from sqlalchemy import text

# -- calendars ---------------------------------------------------------------
CALENDAR_BY_PATH = text("SELECT id, path, tag, props, read_only FROM collection WHERE path = :path")

# -- published feeds -----------------------------------------------------------
_FEED_COLUMNS = ("f.id, f.owner, f.kind, f.collection_id, c.path AS calendar_path, f.organisation_id,"
                 " f.options, f.created, f.updated, f.rotated")
# A calendar feed joins its calendar; a goals feed has none (organisation_id instead).
_FEED_JOIN = "LEFT JOIN collection c ON c.id = f.collection_id"
# Whose feed a token opens is in the reference table published_feed_token (the feeds themselves
# are placed by owner): a feed's token gets its row first, and revoking the token revokes the feed.
INSERT_FEED_TOKEN = text("INSERT INTO published_feed_token (token_hash, owner) VALUES (:token_hash, :owner)")
# A feed deleted with its calendar or organisation leaves its token's row (it opens nothing):
# removed when its owner next publishes.
FORGET_DEAD_FEED_TOKENS = text(
    "DELETE FROM published_feed_token t WHERE t.owner = :owner AND NOT EXISTS ("
    " SELECT 1 FROM published_feed f WHERE f.token_hash = t.token_hash AND f.owner = t.owner)")
INSERT_FEED = text(
    "WITH f AS (INSERT INTO published_feed (owner, kind, collection_id, organisation_id, token_hash, options)"
    "  VALUES (:owner, :kind, :collection_id, :organisation_id, :token_hash, CAST(:options AS jsonb))"
    "  RETURNING *)"
    f" SELECT {_FEED_COLUMNS} FROM f {_FEED_JOIN}")
LIST_FEEDS = text(
    f"SELECT {_FEED_COLUMNS} FROM published_feed f {_FEED_JOIN}"
    " WHERE f.owner = :owner ORDER BY f.id")
FEED_BY_ID = text(
    f"SELECT {_FEED_COLUMNS} FROM published_feed f {_FEED_JOIN}"
    " WHERE f.id = :id AND f.owner = :owner")
UPDATE_FEED_OPTIONS = text(
    "WITH f AS (UPDATE published_feed SET options = CAST(:options AS jsonb), updated = now()"
    "  WHERE id = :id AND owner = :owner RETURNING *)"
    f" SELECT {_FEED_COLUMNS} FROM f {_FEED_JOIN}")
FEED_TOKEN_FOR_UPDATE = text(
    "SELECT token_hash FROM published_feed WHERE id = :id AND owner = :owner FOR UPDATE")
ROTATE_FEED = text(
    "WITH f AS (UPDATE published_feed SET token_hash = :token_hash, rotated = now()"
    "  WHERE id = :id AND owner = :owner RETURNING *)"
    f" SELECT {_FEED_COLUMNS} FROM f {_FEED_JOIN}")
DELETE_FEED_TOKEN = text("DELETE FROM published_feed_token WHERE token_hash = :token_hash AND owner = :owner")

# What a request for a secret URL needs to decide between 404, 304, the cache and a build.
# A calendar's revision tells when it changed (with, for a feed filtered by an objective, the
# set of its key results); a goals feed's marker is a digest of the ids and
# update times of the organisation's goals (a deletion changes it too). A goals feed lives only
# while its owner is a member of the organisation.
_FEED_STATE = (
    "SELECT f.id, f.kind, f.options, f.updated, c.id AS collection_id, c.path, c.props,"
    "       f.organisation_id, o.name AS organisation_name,"
    "       CASE WHEN f.kind = 'goals' THEN coalesce(g.marker, '-')"
    "            ELSE CAST(c.revision AS text) || coalesce('/' || k.marker, '') END AS revision,"
    "       CASE WHEN f.kind = 'goals' THEN coalesce(g.modified, f.created) ELSE c.modified END AS modified"
    " FROM published_feed f LEFT JOIN collection c ON c.id = f.collection_id"
    " LEFT JOIN organisation o ON o.id = f.organisation_id"
    " LEFT JOIN LATERAL ("
    "   SELECT md5(string_agg(CAST(x.id AS text) || CAST(x.updated AS text), ',' ORDER BY x.id)) AS marker,"
    "          max(x.updated) AS modified FROM ("
    "     SELECT id, updated FROM objective WHERE organisation_id = f.organisation_id"
    "     UNION ALL SELECT id, updated FROM key_result WHERE organisation_id = f.organisation_id"
    "     UNION ALL SELECT id, updated FROM kpi WHERE organisation_id = f.organisation_id) x"
    " ) g ON f.kind = 'goals'"
    # A feed filtered by an objective also shows its key results' items: a key result added
    # to or moved off the objective changes the feed without a change to the calendar.
    " LEFT JOIN LATERAL ("
    "   SELECT md5(string_agg(CAST(kr.id AS text), ',' ORDER BY kr.id)) AS marker FROM key_result kr"
    "   WHERE CAST(kr.objective_id AS text) = f.options -> 'goal' ->> 'id'"
    " ) k ON f.kind = 'calendar' AND f.options -> 'goal' ->> 'kind' = 'objective'"
    " WHERE (f.kind = 'calendar' OR EXISTS (SELECT 1 FROM membership m"
    "        WHERE m.organisation_id = f.organisation_id AND m.account = f.owner))")
FEED_STATE_BY_TOKEN = text(_FEED_STATE + " AND f.token_hash = :token_hash AND f.owner ="
                           " (SELECT owner FROM published_feed_token WHERE token_hash = :token_hash)")
# The same, re-read inside the snapshot the feed is built from.
FEED_STATE_BY_ID = text(_FEED_STATE + " AND f.id = :id")

# -- the events of a goals feed ---------------------------------------------------------
GOAL_DATES = text(
    "SELECT 'objective' AS kind, id, title, due_date AS day, NULL AS period FROM objective"
    "  WHERE organisation_id = :org AND due_date IS NOT NULL"
    " UNION ALL SELECT 'key_result', id, title, due_date, NULL FROM key_result"
    "  WHERE organisation_id = :org AND due_date IS NOT NULL"
    " UNION ALL SELECT 'kpi', id, name, next_review, period FROM kpi"
    "  WHERE organisation_id = :org AND next_review IS NOT NULL"
    " ORDER BY 1, 2")

# -- the items of a calendar feed (see okr_extension.feeds.selection) ----------
SELECT_ITEMS = "SELECT i.uid, i.component, i.text FROM item i WHERE i.collection_id = :cid"
SELECT_ITEMS_ORDER = " ORDER BY i.uid, i.href"
SELECTION_CONDITIONS = {
    "components": "i.component = ANY(CAST(:components AS text[]))",
    # An occurrence in the window (occurrence index), or a series whose expansion
    # stopped before the window's end and that may still reach into it.
    "window": (
        "(i.id IN (SELECT o.item_id FROM item_occurrence o"
        "          WHERE o.collection_id = :cid AND o.span && int8range(:window_start, :window_end))"
        " OR (i.expanded_until < :window_end AND i.series_end > :window_start))"),
    # Linked to the goal (the storage's link index); an objective also takes its key results'.
    "goal": (
        "i.id IN (SELECT l.item_id FROM item_link l"
        "         WHERE (l.target_kind = :goal_kind AND l.target_id = :goal_id)"
        "            OR (:goal_kind = 'objective' AND l.target_kind = 'key_result' AND l.target_id IN"
        "                (SELECT CAST(k.id AS text) FROM key_result k"
        "                 WHERE CAST(k.objective_id AS text) = :goal_id)))"),
}


def select_items(conditions: list[str]):
    """The item query with the named ``SELECTION_CONDITIONS`` (fixed SQL) ANDed."""
    where = "".join(f" AND {SELECTION_CONDITIONS[name]}" for name in conditions)
    return text(SELECT_ITEMS + where + SELECT_ITEMS_ORDER)


# -- subscriptions ---------------------------------------------------------------
_SUBSCRIPTION_COLUMNS = (
    "s.id, s.owner, s.collection_id, c.path AS calendar_path, c.props, s.url, s.refresh_seconds,"
    " s.next_run, s.lease_until, s.last_attempt, s.last_success, s.last_error, s.last_error_at,"
    " s.consecutive_failures, s.last_changes, s.created,"
    " (SELECT count(*) FROM item i WHERE i.collection_id = s.collection_id) AS item_count")
INSERT_SUBSCRIPTION = text(
    "INSERT INTO feed_subscription (owner, collection_id, url, refresh_seconds)"
    " VALUES (:owner, :collection_id, :url, :refresh_seconds) RETURNING id")
LIST_SUBSCRIPTIONS = text(
    f"SELECT {_SUBSCRIPTION_COLUMNS} FROM feed_subscription s"
    " JOIN collection c ON c.id = s.collection_id WHERE s.owner = :owner ORDER BY s.id")
SUBSCRIPTION_BY_ID = text(
    f"SELECT {_SUBSCRIPTION_COLUMNS} FROM feed_subscription s"
    " JOIN collection c ON c.id = s.collection_id WHERE s.id = :id AND s.owner = :owner")
# A new URL forgets the conditional-fetch state and is fetched at once.
UPDATE_SUBSCRIPTION = text(
    "UPDATE feed_subscription SET"
    "  refresh_seconds = :refresh_seconds,"
    "  next_run = CASE WHEN url <> :url THEN now() ELSE next_run END,"
    "  http_etag = CASE WHEN url <> :url THEN NULL ELSE http_etag END,"
    "  http_last_modified = CASE WHEN url <> :url THEN NULL ELSE http_last_modified END,"
    "  body_sha256 = CASE WHEN url <> :url THEN NULL ELSE body_sha256 END,"
    "  url = :url"
    " WHERE id = :id AND owner = :owner RETURNING id")
REQUEST_REFRESH = text(
    "UPDATE feed_subscription SET next_run = now() WHERE id = :id AND owner = :owner RETURNING id")

# The scheduler's clock: the database's, unless a caller passes :now (tests of leases and
# backoff move time forward without waiting).
_NOW = "coalesce(CAST(:now AS timestamptz), now())"

# Claim up to :batch due feeds for this process. SKIP LOCKED lets concurrent
# schedulers pass over rows another one is claiming; the lease keeps them off
# a claimed feed until it is finished (or the lease runs out, after a crash).
CLAIM_DUE = text(
    "WITH due AS ("
    "  SELECT id FROM feed_subscription"
    f"  WHERE next_run <= {_NOW} AND (lease_until IS NULL OR lease_until < {_NOW})"
    "  ORDER BY next_run LIMIT :batch FOR UPDATE SKIP LOCKED)"
    " UPDATE feed_subscription s SET lease_owner = :lease_owner,"
    f"   lease_until = {_NOW} + make_interval(secs => :lease_seconds), last_attempt = {_NOW}"
    " FROM due, collection c WHERE s.id = due.id AND c.id = s.collection_id"
    " RETURNING s.id, s.owner, c.path AS calendar_path, s.url, s.refresh_seconds, s.http_etag,"
    "   s.http_last_modified, s.body_sha256, s.consecutive_failures")
FINISH_SUCCESS = text(
    f"UPDATE feed_subscription SET lease_owner = NULL, lease_until = NULL, last_success = {_NOW},"
    f"  consecutive_failures = 0, next_run = {_NOW} + make_interval(secs => refresh_seconds),"
    "  http_etag = :http_etag, http_last_modified = :http_last_modified,"
    "  body_sha256 = :body_sha256, last_changes = CAST(:last_changes AS jsonb)"
    " WHERE id = :id AND lease_owner = :lease_owner AND url = :url")
FINISH_FAILURE = text(
    "UPDATE feed_subscription SET lease_owner = NULL, lease_until = NULL, last_error = :error,"
    f"  last_error_at = {_NOW}, consecutive_failures = consecutive_failures + 1,"
    f"  next_run = {_NOW} + make_interval(secs => :delay_seconds)"
    " WHERE id = :id AND lease_owner = :lease_owner AND url = :url")
# The URL changed while it was fetched: the outcome is not the new URL's; only end the lease
# (the change made the subscription due again).
RELEASE_STALE = text(
    "UPDATE feed_subscription SET lease_owner = NULL, lease_until = NULL"
    " WHERE id = :id AND lease_owner = :lease_owner AND url <> :url")
