"""Every SQL statement the storage plugin runs, in one place.

Plain statements with bound parameters; PostgreSQL features (ranges, GiST,
``starts_with``, advisory locks) are spelled out rather than hidden.
"""
import functools

from sqlalchemy import text

COLLECTION_COLUMNS = "id, path, tag, props, revision, history_floor, modified, read_only, kind"
ITEM_META_COLUMNS = "i.id, i.href, i.uid, i.component, i.etag, i.series_start, i.series_end, i.modified"


def served(alias: str = "i") -> str:
    """Items a client is shown: like Radicale's file storage, none larger than ``:max_size``
    bytes ([server] max_resource_size, e.g. after it was lowered); NULL shows all (internal
    reads). octet_length of a stored text reads its size from the header, not the text."""
    return f"(CAST(:max_size AS bigint) IS NULL OR octet_length({alias}.text) <= :max_size)"


# -- locking ---------------------------------------------------------------
LOCK_OWNER = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")

# -- collections -----------------------------------------------------------
COLLECTION_BY_PATH = text(f"SELECT {COLLECTION_COLUMNS} FROM collection WHERE path = :path AND owner = :owner")
# ``:paths`` of one owner (the others are not found).
COLLECTIONS_BY_PATHS = text(
    f"SELECT {COLLECTION_COLUMNS} FROM collection WHERE path = ANY(:paths) AND owner = :owner")


def _collections_and_member(item_columns: str):
    """The collections at ``:paths`` and, beside the one at ``:parent``, its member ``:href``
    (columns ``m_<name>``, NULL when there is none): what a lookup of a path needs, whether it
    names a collection or an item (``Storage._find``), in one round trip."""
    member = ", ".join(f"{column} AS m_{column.split('.')[-1]}" for column in item_columns.split(", "))
    return text(
        f"SELECT {', '.join('c.' + column for column in COLLECTION_COLUMNS.split(', '))}, m.*"
        " FROM collection c LEFT JOIN LATERAL ("
        f"  SELECT {member}, i.schedule_tag AS m_schedule_tag FROM item i"
        f"  WHERE c.path = :parent AND i.collection_id = c.id AND i.href = :href AND i.owner = c.owner"
        f"  AND {served()}) AS m ON true"
        " WHERE c.path = ANY(:paths) AND c.owner = :owner")


COLLECTIONS_AND_MEMBER = _collections_and_member(ITEM_META_COLUMNS)
COLLECTIONS_AND_MEMBER_WITH_TEXT = _collections_and_member(f"{ITEM_META_COLUMNS}, i.text")
CHILD_COLLECTIONS = text(
    f"SELECT {COLLECTION_COLUMNS} FROM collection WHERE parent_path = :path AND owner = :owner ORDER BY path")
# The root's members: every account's home.
HOMES = text(f"SELECT {COLLECTION_COLUMNS} FROM collection WHERE parent_path = '' AND path <> '' ORDER BY path")
INSERT_COLLECTION = text(
    f"INSERT INTO collection (path, parent_path, tag, props, owner) "
    f"VALUES (:path, :parent_path, :tag, CAST(:props AS jsonb), :owner) "
    f"ON CONFLICT (path, owner) DO NOTHING RETURNING {COLLECTION_COLUMNS}")
SET_COLLECTION_PROPS = text(
    "UPDATE collection SET props = CAST(:props AS jsonb), tag = :tag, "
    "revision = revision + 1, modified = now() WHERE id = :id AND owner = :owner RETURNING revision, modified")
BUMP_REVISION = text(
    "UPDATE collection SET revision = revision + :count, modified = now() "
    "WHERE id = :id AND owner = :owner RETURNING revision, modified")
COLLECTION_REVISION = text(
    "SELECT revision, history_floor, modified FROM collection WHERE id = :id AND owner = :owner")
DELETE_COLLECTION_TREE = text(
    "DELETE FROM collection WHERE owner = :owner AND (path = :path OR starts_with(path, :path || '/'))")
ALL_COLLECTIONS = text(f"SELECT {COLLECTION_COLUMNS} FROM collection ORDER BY path")


def home_as_json(name_parameter: str) -> str:
    """An expression: the collection at path ``name_parameter`` (an account's home) as one JSON
    object of ``COLLECTION_COLUMNS``, or NULL; read along with a login (storage_plugin.logins)."""
    return (f"(SELECT to_jsonb(c) FROM (SELECT {COLLECTION_COLUMNS} FROM collection"
            f" WHERE path = {name_parameter} AND owner = {name_parameter}) AS c)")

def lookup_as_json(with_member: bool) -> str:
    """An expression: the rows of ``Storage._find``'s lookup of ``:paths`` (with the member
    ``:href`` and its text, or without a member) as a JSON array, or NULL when none; read along
    with a login (storage_plugin.logins)."""
    query = COLLECTIONS_AND_MEMBER_WITH_TEXT if with_member else COLLECTIONS_BY_PATHS
    return f"(SELECT json_agg(r) FROM ({query.text}) AS r)"

# -- items -----------------------------------------------------------------
ITEMS_OF_COLLECTION = text(
    f"SELECT {ITEM_META_COLUMNS} FROM item i WHERE i.collection_id = :cid AND i.owner = :owner AND {served()}"
    f" ORDER BY i.href")
ITEMS_WITH_TEXT_OF_COLLECTION = text(
    f"SELECT {ITEM_META_COLUMNS}, i.text FROM item i WHERE i.collection_id = :cid AND i.owner = :owner"
    f" AND {served()} ORDER BY i.href")
ITEMS_BY_HREF = text(
    f"SELECT {ITEM_META_COLUMNS} FROM item i "
    f"WHERE i.collection_id = :cid AND i.href = ANY(:hrefs) AND i.owner = :owner AND {served()}")
ITEMS_WITH_TEXT_BY_HREF = text(
    f"SELECT {ITEM_META_COLUMNS}, i.text FROM item i "
    f"WHERE i.collection_id = :cid AND i.href = ANY(:hrefs) AND i.owner = :owner AND {served()}")
ITEM_TEXTS = text("SELECT id, text FROM item WHERE id = ANY(:ids) AND owner = :owner")
# What identifies each stored version in the collection at :path: its served ETag and the
# digest of its text (``text_etag`` when the served one was kept from another server).
STORED_VERSIONS = text(
    "SELECT i.href, i.uid, i.etag, coalesce(i.text_etag, i.etag) AS text_digest"
    " FROM item i JOIN collection c ON c.id = i.collection_id AND c.owner = i.owner"
    " WHERE c.path = :path AND c.owner = :owner")
ITEM_TEXTS_WITH_ETAG = text("SELECT id, etag, text FROM item WHERE id = ANY(:ids)")
HAS_UID = text(f"SELECT EXISTS (SELECT 1 FROM item i WHERE i.collection_id = :cid AND i.uid = :uid"
               f" AND i.owner = :owner AND {served()})")
# The whole write of many items (or one) in one round trip: revisions of the collection (one
# per item, in order), the items, their occurrence and goal-link index, and the end of their
# tombstones. All parts see the snapshot from before the statement: ``old`` holds the replaced
# versions, and the index rows deleted are the old ones while those inserted are the new.
# Items come as parallel arrays numbered by ``n``; occurrences and links name theirs by it.
WRITE_ITEMS = text(
    "WITH input AS ("
    "  SELECT * FROM unnest(CAST(:href AS text[]), CAST(:uid AS text[]), CAST(:component AS text[]),"
    "    CAST(:etag AS text[]), CAST(:text_etag AS text[]), CAST(:text AS text[]),"
    "    CAST(:series_start AS bigint[]), CAST(:series_end AS bigint[]), CAST(:expanded_until AS bigint[]),"
    "    CAST(:summary AS text[]), CAST(:status AS text[]), CAST(:percent_complete AS smallint[]),"
    "    CAST(:due AS timestamptz[]), CAST(:schedule_tag AS text[])) WITH ORDINALITY"
    "  AS t(href, uid, component, etag, text_etag, text, series_start, series_end, expanded_until,"
    "       summary, status, percent_complete, due, schedule_tag, n)),"
    " revision AS ("
    "  UPDATE collection SET revision = revision + :count, modified = now()"
    "  WHERE id = :cid AND owner = :owner"
    "  RETURNING revision - :count AS before, modified),"
    " old AS ("
    "  SELECT id, href, uid, component, etag, series_start, series_end, modified, text FROM item"
    "  WHERE collection_id = :cid AND href = ANY(CAST(:href AS text[])) AND owner = :owner),"
    " written AS ("
    "  INSERT INTO item (collection_id, href, uid, component, etag, text_etag, text, series_start,"
    "                    series_end, expanded_until, revision, summary, status, percent_complete, due,"
    "                    schedule_tag, owner)"
    "  SELECT :cid, input.href, input.uid, input.component, input.etag, input.text_etag, input.text,"
    "         input.series_start, input.series_end, input.expanded_until, revision.before + input.n,"
    "         input.summary, input.status, input.percent_complete, input.due, input.schedule_tag,"
    "         CAST(:owner AS text)"
    "  FROM input CROSS JOIN revision"
    "  ON CONFLICT (collection_id, href, owner) DO UPDATE SET uid = EXCLUDED.uid,"
    "    component = EXCLUDED.component, etag = EXCLUDED.etag, text_etag = EXCLUDED.text_etag,"
    "    text = EXCLUDED.text, series_start = EXCLUDED.series_start, series_end = EXCLUDED.series_end,"
    "    expanded_until = EXCLUDED.expanded_until, revision = EXCLUDED.revision, modified = now(),"
    "    summary = EXCLUDED.summary, status = EXCLUDED.status,"
    "    percent_complete = EXCLUDED.percent_complete, due = EXCLUDED.due,"
    "    schedule_tag = EXCLUDED.schedule_tag"
    "  RETURNING id, href, etag, revision, modified),"
    " numbered AS (SELECT written.*, input.n FROM written JOIN input ON input.href = written.href),"
    " cleared AS (DELETE FROM item_occurrence WHERE item_id IN (SELECT id FROM old)),"
    " indexed AS ("
    "  INSERT INTO item_occurrence (item_id, collection_id, span, surrounds, fbtype, owner)"
    "  SELECT numbered.id, :cid, int8range(t.s, t.e), t.surrounds, t.fbtype, CAST(:owner AS text)"
    "  FROM unnest(CAST(:occurrence_of AS bigint[]), CAST(:starts AS bigint[]), CAST(:ends AS bigint[]),"
    "              CAST(:surrounds AS boolean[]), CAST(:fbtypes AS \"char\"[])) AS t(n, s, e, surrounds, fbtype)"
    "  JOIN numbered ON numbered.n = t.n),"
    " unlinked AS (DELETE FROM item_link WHERE item_id IN (SELECT id FROM old)),"
    " linked AS ("
    "  INSERT INTO item_link (item_id, target_kind, target_id, weight, completion, owner)"
    "  SELECT numbered.id, l.kind, l.target, l.weight, l.completion, CAST(:owner AS text)"
    "  FROM unnest(CAST(:link_of AS bigint[]), CAST(:link_kinds AS text[]), CAST(:link_targets AS text[]),"
    "              CAST(:link_weights AS float8[]), CAST(:link_completion AS float8[]))"
    "    AS l(n, kind, target, weight, completion)"
    "  JOIN numbered ON numbered.n = l.n),"
    " untombed AS (DELETE FROM tombstone"
    "  WHERE collection_id = :cid AND href = ANY(CAST(:href AS text[])) AND owner = :owner)"
    " SELECT numbered.id AS new_id, numbered.modified AS new_modified, numbered.etag AS new_etag,"
    "        numbered.revision AS new_revision, revision.modified AS collection_modified, old.*"
    " FROM numbered CROSS JOIN revision LEFT JOIN old ON old.href = numbered.href"
    " ORDER BY numbered.n")
DELETE_ITEM = text("DELETE FROM item WHERE collection_id = :cid AND href = :href AND owner = :owner RETURNING id")
DELETE_ALL_ITEMS = text("DELETE FROM item WHERE collection_id = :cid AND owner = :owner RETURNING href")
# The owner's change (a move into a calendar shared by another) cascades to the item's
# occurrences and links (their foreign keys, migration 0023).
MOVE_ITEM = text(
    "UPDATE item SET collection_id = :to_cid, href = :to_href, owner = :to_owner, revision = :revision,"
    " modified = now() WHERE id = :id AND owner = :owner RETURNING modified")
# An item's goal links, taken off before it moves to another owner and put back after, so that
# the totals (kept per owner by the item_link_count trigger) move with them.
TAKE_LINKS = text(
    "DELETE FROM item_link WHERE item_id = :id AND owner = :owner"
    " RETURNING target_kind, target_id, weight, completion")
PUT_LINKS = text(
    "INSERT INTO item_link (item_id, target_kind, target_id, weight, completion, owner)"
    " SELECT CAST(:id AS bigint), l.kind, l.target, l.weight, l.completion, CAST(:owner AS text)"
    " FROM unnest(CAST(:kinds AS text[]), CAST(:targets AS text[]), CAST(:weights AS float8[]),"
    "             CAST(:completions AS float8[])) AS l(kind, target, weight, completion)")

# -- occurrences (the time-range index) ------------------------------------
MOVE_OCCURRENCES = text(
    "UPDATE item_occurrence SET collection_id = :to_cid WHERE item_id = :item_id AND owner = :owner")

def _items_in_window(hit: str, where: str = "", columns: str = ITEM_META_COLUMNS):
    """Items with an occurrence matching the window (``hit``, on ``o``) are exact
    matches. Items whose expansion stopped before ``end`` may match further on and
    are returned as candidates for Radicale to test by parsing. ``where`` narrows
    the items further (a condition on ``i``)."""
    return text(
        f"WITH hits AS ("
        f"  SELECT DISTINCT o.item_id FROM item_occurrence o"
        f"  WHERE o.collection_id = :cid AND o.owner = :owner AND {hit})"
        f" SELECT {columns}, true AS exact FROM item i JOIN hits h ON h.item_id = i.id"
        f" WHERE i.owner = :owner AND (CAST(:component AS text) IS NULL OR i.component = :component) AND {served()}{where}"
        f" UNION ALL"
        f" SELECT {columns}, false AS exact FROM item i"
        f" WHERE i.collection_id = :cid AND i.owner = :owner AND i.expanded_until < :end AND i.series_end > :start"
        f"   AND (CAST(:component AS text) IS NULL OR i.component = :component) AND {served()}{where}"
        f"   AND i.id NOT IN (SELECT item_id FROM hits)"
        # One order whatever plan PostgreSQL picks (clients see the same answer every time).
        f" ORDER BY href")


def _named_items_in_window(hit: str, where: str, columns: str):
    """``_items_in_window`` for a few items ``where`` names: each item's own occurrences are
    tested (by its index entry), not every occurrence of the window."""
    occurs = (f"EXISTS (SELECT 1 FROM item_occurrence o WHERE o.item_id = i.id AND o.owner = :owner"
              f" AND o.collection_id = :cid AND {hit})")
    common = (f"i.collection_id = :cid AND i.owner = :owner"
              f" AND (CAST(:component AS text) IS NULL OR i.component = :component) AND {served()}{where}")
    return text(
        f"SELECT {columns}, true AS exact FROM item i WHERE {common} AND {occurs}"
        f" UNION ALL"
        f" SELECT {columns}, false AS exact FROM item i WHERE {common}"
        f"   AND i.expanded_until < :end AND i.series_end > :start AND NOT {occurs}"
        f" ORDER BY href")


def _items_of_component(where: str = "", columns: str = ITEM_META_COLUMNS):
    return text(
        f"SELECT {columns}, true AS exact FROM item i "
        f"WHERE i.collection_id = :cid AND i.owner = :owner"
        f" AND (CAST(:component AS text) IS NULL OR i.component = :component)"
        f" AND {served()}{where} ORDER BY i.href")


# Radicale matches an occurrence (s, e) when start < e and s < end. For a window
# with start < end: a proper span overlaps it, a ``surrounds`` one (an empty or
# reversed range, see occurrences.py) lies inside it.
_IN_WINDOW = "o.span && int8range(:start, :end) AND (NOT o.surrounds OR o.span <@ int8range(:start, :end))"
# A window with end <= start (a client may send one): only a proper span strictly
# around it matches, s <= end - 1 and start + 1 <= e; a ``surrounds`` one never does.
_AROUND_INVERTED_WINDOW = ("NOT o.surrounds"
                           " AND o.span @> int8range(CAST(:end AS bigint) - 1, CAST(:start AS bigint) + 1)")

# What every UID matching a text-match fulfils (storage_plugin.indexed_filters),
# parameter ``uid<n>`` holding the test's text: a substring for i;octet (as a LIKE pattern,
# ``uid<n>_pattern``, which the trigram index of migration 0014 answers); for other
# collations the lower-cased substring of an ASCII UID (lower() of collation "C"
# is ASCII-only, as Python's is on ASCII), or any UID beyond ASCII; a negated test
# narrows nothing. Python then tests the candidates' UIDs exactly.
_UID_CONDITIONS = {
    "octet": " AND i.uid LIKE :uid{n}_pattern",
    "casemap": " AND (strpos(lower(i.uid COLLATE \"C\"), :uid{n}) > 0 OR i.uid ~ :non_ascii)",
    "any": "",
}


# An item row's version: its xmin, the transaction that wrote it (every write of a row, by any
# process or by hand in SQL, gives it a new one); rendered responses are kept by it.
def row_version(alias: str = "i") -> str:
    return f"CAST(CAST({alias}.xmin AS text) AS bigint)"


# What an answer written by the database selects of an item (storage_plugin.selections); the
# responses are written from the item's row afterwards (storage_plugin.rendered).
RENDERED_COLUMNS = f"i.href, i.vevent_bound, i.id, {row_version()} AS version"
# The probe of storage_plugin.selections: whether hrefs sort by code point here.
SORTED_LIKE_HREF = text('SELECT p FROM unnest(CAST(:probes AS text[])) AS p ORDER BY p COLLATE "default"')


@functools.lru_cache(maxsize=128)
def items_matching(window: str, uid_kinds: tuple[str, ...], with_text: bool, rendered: bool = False,
                   only_hrefs: bool = False):
    """The item query for a window ("all", "range" or "inverted") narrowed by UID tests (and
    with ``only_hrefs`` to the names in ``:hrefs``), with the texts or without, or with what a
    rendered answer needs."""
    where = "".join(_UID_CONDITIONS[kind].format(n=n) for n, kind in enumerate(uid_kinds))
    columns = RENDERED_COLUMNS if rendered else f"{ITEM_META_COLUMNS}, i.text" if with_text else ITEM_META_COLUMNS
    if only_hrefs:
        where += " AND i.href = ANY(CAST(:hrefs AS text[]))"
        if window != "all":  # the named items first, then their occurrences
            return _named_items_in_window(_IN_WINDOW if window == "range" else _AROUND_INVERTED_WINDOW, where, columns)
    if window == "all":
        return _items_of_component(where, columns)
    return _items_in_window(_IN_WINDOW if window == "range" else _AROUND_INVERTED_WINDOW, where, columns)


@functools.lru_cache(maxsize=4)
def members_changed_since(window: str):
    """In one statement, the hrefs written or deleted since ``:since`` (at most ``:limit`` of
    each) as rows (change true, href), and among them the members ``items_matching(window, (),
    False, True, only_hrefs=True)`` selects as rows (change false, its columns, exact): what a
    kept selection is brought up to date with (storage_plugin.selections). By collection and
    revision only, every change whatever its size: the owner, which the collection determines,
    can lead a generic plan to the href index and a scan of the whole calendar."""
    named = items_matching(window, (), False, True, only_hrefs=True).text.replace(
        "CAST(:hrefs AS text[])", "ARRAY(SELECT href FROM changes)")
    return text(
        "WITH changes AS ("
        "  (SELECT href FROM item WHERE collection_id = :cid AND revision > :since LIMIT :limit)"
        "  UNION ALL"
        "  (SELECT href FROM tombstone WHERE collection_id = :cid AND revision > :since LIMIT :limit))"
        " SELECT true AS change, href, NULL AS vevent_bound, NULL AS id, NULL AS version, NULL AS exact"
        " FROM changes"
        f" UNION ALL SELECT false, m.* FROM ({named}) AS m")


# -- sync history ----------------------------------------------------------
DELETE_TOMBSTONE = text("DELETE FROM tombstone WHERE collection_id = :cid AND href = :href AND owner = :owner")
INSERT_TOMBSTONE = text(
    "INSERT INTO tombstone (collection_id, href, revision, owner) VALUES (:cid, :href, :revision, :owner) "
    "ON CONFLICT (collection_id, href, owner) DO UPDATE SET revision = EXCLUDED.revision, deleted_at = now()")
PRUNE_TOMBSTONES = text(
    "WITH pruned AS ("
    "  DELETE FROM tombstone WHERE collection_id = :cid AND owner = :owner"
    "  AND deleted_at < now() - make_interval(days => :days) RETURNING revision)"
    " UPDATE collection SET history_floor = GREATEST(history_floor, (SELECT max(revision) FROM pruned))"
    " WHERE id = :cid AND owner = :owner AND EXISTS (SELECT 1 FROM pruned)")
# Changes oldest first; ``etag`` and ``component`` are NULL for a deletion.
CHANGES_SINCE = text(
    "SELECT href, revision, etag, component FROM ("
    "  SELECT href, revision, etag, component FROM item i"
    "  WHERE collection_id = :cid AND owner = :owner AND revision > :since"
    f"  AND {served()}"
    "  UNION ALL"
    "  SELECT href, revision, NULL, NULL FROM tombstone"
    "  WHERE collection_id = :cid AND owner = :owner AND revision > :since"
    ") AS changes ORDER BY revision LIMIT :limit")
CURRENT_MEMBERS = text(
    f"SELECT href, revision, etag, component FROM item i WHERE collection_id = :cid AND owner = :owner"
    f" AND {served()}"
    " ORDER BY revision LIMIT :limit")

# -- verification ----------------------------------------------------------
ITEMS_FOR_VERIFY = text(
    "SELECT i.id, c.path, i.href, i.uid, i.component, i.etag, i.text_etag, i.text, i.series_start,"
    "       i.series_end,"
    "       i.expanded_until, i.modified, c.tag, i.summary, i.status, i.percent_complete, i.due,"
    "       COALESCE(o.spans, '[]') AS spans,"
    "       (SELECT coalesce(json_agg(json_build_array(l.target_kind, l.target_id, l.weight)), '[]')"
    "        FROM item_link l WHERE l.item_id = i.id) AS links"
    " FROM item i JOIN collection c ON c.id = i.collection_id"
    " LEFT JOIN LATERAL (SELECT json_agg(spans.triple) AS spans FROM ("
    "   SELECT CASE WHEN surrounds THEN json_build_array(upper(span) - 1, lower(span) + 1, fbtype)"
    "               ELSE json_build_array(lower(span), upper(span), fbtype) END AS triple"
    "   FROM item_occurrence WHERE item_id = i.id) spans) o ON true"
    " ORDER BY c.path, i.href")

# -- direct writes (storage_plugin.writer) -----------------------------------
SET_READ_ONLY = text("UPDATE collection SET read_only = :read_only WHERE id = :id AND owner = :owner")
HREFS_OF_UID = text("SELECT href FROM item WHERE collection_id = :cid AND uid = :uid AND owner = :owner")
