"""The SQL over the storage's link index. Readable calendars: a user reads what lies under
``/<user>/`` and what is shared with them for read or read-write (``storage_plugin.sharing``,
the rights the CalDAV side enforces)."""
import sqlalchemy as sa

from storage_plugin.sharing.queries import READABLE_SHARED

READABLE = f"(split_part(c.path, '/', 1) = :user OR c.id IN ({READABLE_SHARED}))"

ITEM_BY_UID = sa.text(
    "SELECT i.href, i.uid, i.component, i.etag, c.path FROM item i JOIN collection c ON c.id = i.collection_id"
    " WHERE c.path = :path AND i.uid = :uid")
ITEM_BY_HREF = sa.text(
    "SELECT i.href, i.uid, i.component, i.etag, c.path FROM item i JOIN collection c ON c.id = i.collection_id"
    " WHERE c.path = :path AND i.href = :href")

LINKED_ITEMS = sa.text(
    "SELECT i.id AS item_id, c.path AS calendar, i.href, i.uid, i.component, i.etag, i.summary,"
    "       i.status, i.percent_complete, i.due, l.weight, l.completion"
    " FROM item_link l JOIN item i ON i.id = l.item_id JOIN collection c ON c.id = i.collection_id"
    f" WHERE l.target_kind = :kind AND l.target_id = :target AND {READABLE} AND i.id > :after"
    " ORDER BY i.id LIMIT :limit")

LINKS_OF_ITEM = sa.text(
    "SELECT l.target_kind, l.target_id, l.weight FROM item_link l JOIN item i ON i.id = l.item_id"
    " JOIN collection c ON c.id = i.collection_id WHERE c.path = :path AND i.href = :href"
    " ORDER BY l.target_kind, l.target_id")

# Weighted completion of the VTODOs linked to each key result, from the totals the storage
# keeps on write per task owner (migrations 0004, 0005): the tasks of the key result's
# organisation's members and of its team lists count, whoever reads; a stranger's task naming the
# id does not.
TASK_PROGRESS = sa.text(
    "SELECT t.target_id, CASE WHEN sum(t.tasks) > 0 AND sum(t.weight_sum) > 0"
    "                         THEN sum(t.completion_sum) / sum(t.weight_sum) END AS progress"
    " FROM link_total t JOIN key_result k ON CAST(k.id AS text) = t.target_id"
    " WHERE t.target_kind = 'key_result' AND t.target_id = ANY(:targets)"
    # Tasks of the organisation's members, and of its own (team) lists.
    "   AND (EXISTS (SELECT 1 FROM membership m WHERE m.organisation_id = k.organisation_id AND m.account = t.owner)"
    "        OR EXISTS (SELECT 1 FROM team_account a WHERE a.organisation_id = k.organisation_id"
    "                   AND a.account = t.owner))"
    " GROUP BY t.target_id")

# Hours of linked events per ISO week (UTC), each occurrence clipped to the range. It starts
# from the occurrences in the range (GiST index per calendar), so its cost follows the events
# in the range, not the number of links; an event linked to several targets counts once.
TIME_INVESTED = sa.text(
    "WITH clipped AS ("
    "  SELECT o.span * int8range(:start, :end) AS span FROM item_occurrence o"
    f"  WHERE o.collection_id IN (SELECT c.id FROM collection c WHERE {READABLE})"
    "    AND NOT o.surrounds AND o.span && int8range(:start, :end)"
    "    AND EXISTS (SELECT 1 FROM item_link l JOIN item i ON i.id = l.item_id"
    "                WHERE l.item_id = o.item_id AND i.component = 'VEVENT'"
    "                  AND (l.target_kind, l.target_id) IN"
    "                      (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:targets AS text[])))))"
    " SELECT date_trunc('week', to_timestamp(lower(span)) AT TIME ZONE 'UTC') AS week,"
    "        sum(upper(span) - lower(span)) / 3600.0 AS hours, count(*) AS occurrences"
    " FROM clipped WHERE NOT isempty(span) GROUP BY 1 ORDER BY 1")

# The user's event occurrences in the range (recurrences expanded by the index).
AGENDA_EVENTS = sa.text(
    "SELECT c.path AS calendar, i.href, i.uid, i.summary, i.status, i.id AS item_id,"
    "       lower(o.span) AS start, upper(o.span) AS end"
    " FROM item_occurrence o JOIN item i ON i.id = o.item_id JOIN collection c ON c.id = i.collection_id"
    f" WHERE {READABLE} AND i.component = 'VEVENT' AND NOT o.surrounds"
    "   AND o.span && int8range(:start, :end)"
    " ORDER BY lower(o.span), c.path, i.href LIMIT :limit")

# The user's tasks due in the range.
AGENDA_TASKS = sa.text(
    "SELECT c.path AS calendar, i.href, i.uid, i.summary, i.status, i.id AS item_id, i.due"
    " FROM item i JOIN collection c ON c.id = i.collection_id"
    f" WHERE {READABLE} AND i.component = 'VTODO' AND i.due >= to_timestamp(:start)"
    "   AND i.due < to_timestamp(:end)"
    " ORDER BY i.due, c.path, i.href LIMIT :limit")

# Tasks of every list the user may read whose text names one of the user's addresses (the
# service keeps those where it is an ATTENDEE's): open ones first by due date.
ASSIGNED_TASKS = sa.text(
    "SELECT c.path AS calendar, i.href, i.uid, i.summary, i.status, i.percent_complete, i.due,"
    "       i.id AS item_id, i.text"
    " FROM item i JOIN collection c ON c.id = i.collection_id"
    f" WHERE {READABLE} AND i.component = 'VTODO'"
    "   AND (:completed OR coalesce(i.status, '') NOT IN ('COMPLETED', 'CANCELLED'))"
    # Unfolded (an address may be cut by line folding); backslash is LIKE's default escape.
    "   AND lower(regexp_replace(i.text, E'\\r?\\n[ \\t]', '', 'g')) LIKE ANY(CAST(:patterns AS text[]))"
    " ORDER BY i.due NULLS LAST, c.path, i.href LIMIT :limit")

LINKS_OF_ITEMS = sa.text(
    "SELECT item_id, target_kind, target_id, weight FROM item_link WHERE item_id = ANY(:ids)"
    " ORDER BY target_kind, target_id")
