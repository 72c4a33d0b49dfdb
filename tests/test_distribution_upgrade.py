"""The migrations that key goal data by organisation (okr 0019) and published feeds by owner
(storage 0022), run over a database filled before them: every child row gets its parent's
organisation, states of goals that no longer exist go, feed tokens get their lookup rows, and the
foreign keys keep their ON DELETE behaviour."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from okr_extension import schema
from storage_plugin import database

A, B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
TOP, CHILD, B_TOP = ("10000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000002",
                     "10000000-0000-0000-0000-000000000003")
KR, B_KR = "20000000-0000-0000-0000-000000000001", "20000000-0000-0000-0000-000000000002"
KPI, B_KPI, GONE = ("30000000-0000-0000-0000-000000000001", "30000000-0000-0000-0000-000000000002",
                    "30000000-0000-0000-0000-000000000009")
RULE = "50000000-0000-0000-0000-000000000001"

# Rows in every table the migrations change, in two organisations, as the code before them wrote.
BEFORE = [
    "INSERT INTO account (name, password_hash) VALUES ('ann', 'x'), ('bob', 'x')",
    f"INSERT INTO organisation (id, name) VALUES ('{A}', 'A'), ('{B}', 'B')",
    f"INSERT INTO objective (id, organisation_id, title, owner) VALUES ('{TOP}', '{A}', 'top', 'ann'),"
    f" ('{B_TOP}', '{B}', 'b', 'bob')",
    f"INSERT INTO objective (id, organisation_id, title, owner, parent_id) VALUES ('{CHILD}', '{A}', 'c', 'ann', '{TOP}')",
    f"INSERT INTO kpi (id, organisation_id, name, owner) VALUES ('{KPI}', '{A}', 'k', 'ann'), ('{B_KPI}', '{B}', 'kb', 'bob')",
    "INSERT INTO key_result (id, objective_id, organisation_id, title, owner, kind, target_value, source_kpi_id)"
    f" VALUES ('{KR}', '{CHILD}', '{A}', 'kr', 'ann', 'increase_to', 10, '{KPI}'),"
    f" ('{B_KR}', '{B_TOP}', '{B}', 'krb', 'bob', 'increase_to', 10, NULL)",
    f"INSERT INTO check_in (key_result_id, organisation_id, value, author) VALUES ('{KR}', '{A}', 3, 'ann'),"
    f" ('{B_KR}', '{B}', 4, 'bob')",
    "INSERT INTO kpi_measurement (kpi_id, measured_at, value, author) SELECT k, now() - g * interval '1 hour', g, a"
    f" FROM (VALUES ('{KPI}'::uuid, 'ann'), ('{B_KPI}'::uuid, 'bob')) v(k, a), generate_series(1, 50) g",
    "INSERT INTO automation_subject_state (subject_type, subject_id, state) VALUES"
    f" ('kpi', '{KPI}', 'ok'), ('key_result', '{B_KR}', 'on_track'), ('objective', '{TOP}', 'on_track'),"
    f" ('kpi', '{GONE}', 'ok')",
    "INSERT INTO webhook (organisation_id, url, kinds, secret) VALUES"
    f" ('{A}', 'http://a', '{{kpi.breach}}', 's'), ('{B}', 'http://b', '{{kpi.breach}}', 's')",
    "INSERT INTO automation_rule (id, organisation_id, name, created_by, trigger, action, created, updated)"
    f" VALUES ('{RULE}', '{A}', 'r', 'ann', '{{}}', '{{}}', now(), now())",
    f"INSERT INTO automation_rule_run (rule_id, run_key, outcome, ran) VALUES ('{RULE}', 'k1', 'done', now()),"
    f" ('{RULE}', 'k2', 'done', now())",
    "INSERT INTO automation_event (idempotency_key, kind, organisation_id, subject_type, subject_id, body, occurred)"
    f" VALUES ('e', 'kpi.breach', '{A}', 'kpi', '{KPI}', '{{}}', now()), ('e2', 'kpi.breach', '{B}', 'kpi', '{B_KPI}', '{{}}', now())",
    "INSERT INTO webhook_delivery (webhook_id, event_seq, next_attempt, created) SELECT w.id, e.seq, now(), now()"
    " FROM automation_event e JOIN webhook w ON w.organisation_id = e.organisation_id",
    f"INSERT INTO published_feed (owner, kind, organisation_id, token_hash) VALUES ('ann', 'goals', '{A}', '\\x03')",
]


@pytest.fixture
def upgraded(database_server, monkeypatch):
    """A database migrated up to just before the two migrations, filled, then upgraded."""
    from conftest import fresh_database

    with fresh_database(database_server) as url:
        engine = database.engine_for(url)
        every = database._migrations
        first = {database.STORAGE_MIGRATIONS: 22, schema.MIGRATIONS: 19}
        monkeypatch.setattr(database, "_migrations",
                            lambda package: [m for m in every(package) if m[0] < first[package]])
        schema.migrate(engine)
        with engine.begin() as conn:
            for statement in BEFORE:
                conn.execute(sa.text(statement))
        monkeypatch.setattr(database, "_migrations", every)
        applied = schema.migrate(engine)
        assert "0022_published_feed_key.sql" in applied and "0019_goal_keys_by_organisation.sql" in applied
        yield engine
        database.dispose(url)


def _rows(engine, sql: str) -> list:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def test_child_rows_get_their_parent_s_organisation(upgraded):
    assert sorted(_rows(upgraded, "SELECT CAST(kpi_id AS text), CAST(organisation_id AS text), count(*)"
                                  " FROM kpi_measurement GROUP BY 1, 2")) == [(KPI, A, 50), (B_KPI, B, 50)]
    assert _rows(upgraded, "SELECT CAST(organisation_id AS text), count(*) FROM automation_rule_run GROUP BY 1") == [(A, 2)]
    assert sorted(_rows(upgraded, "SELECT CAST(d.organisation_id AS text), w.url FROM webhook_delivery d"
                                  " JOIN webhook w ON w.id = d.webhook_id")) == [(A, "http://a"), (B, "http://b")]
    # The state of a KPI that no longer exists is dropped; the others keep theirs.
    assert sorted(_rows(upgraded, "SELECT subject_type, CAST(subject_id AS text), CAST(organisation_id AS text), state"
                                  " FROM automation_subject_state")) == [
        ("key_result", B_KR, B, "on_track"), ("kpi", KPI, A, "ok"), ("objective", TOP, A, "on_track")]
    assert _rows(upgraded, "SELECT owner, token_hash FROM published_feed_token") == [("ann", b"\x03")]


def test_foreign_keys_keep_their_on_delete(upgraded):
    with upgraded.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM kpi WHERE id = '{KPI}'"))  # SET NULL (source_kpi_id), CASCADE
        conn.execute(sa.text(f"DELETE FROM objective WHERE id = '{TOP}'"))  # SET NULL (parent_id)
        conn.execute(sa.text(f"DELETE FROM key_result WHERE id = '{B_KR}'"))  # CASCADE to check-ins
        conn.execute(sa.text("DELETE FROM automation_event WHERE idempotency_key = 'e'"))  # CASCADE to deliveries
        conn.execute(sa.text("DELETE FROM automation_rule"))  # CASCADE to runs
        conn.execute(sa.text("DELETE FROM published_feed_token"))  # CASCADE to the feeds
    assert _rows(upgraded, f"SELECT source_kpi_id, CAST(organisation_id AS text) FROM key_result WHERE id = '{KR}'") == [(None, A)]
    assert _rows(upgraded, f"SELECT parent_id FROM objective WHERE id = '{CHILD}'") == [(None,)]
    assert _rows(upgraded, "SELECT CAST(key_result_id AS text) FROM check_in") == [(KR,)]
    assert _rows(upgraded, "SELECT count(*) FROM kpi_measurement") == [(50,)]
    assert _rows(upgraded, "SELECT CAST(organisation_id AS text) FROM webhook_delivery") == [(B,)]
    assert _rows(upgraded, "SELECT count(*) FROM automation_rule_run") == [(0,)]
    assert _rows(upgraded, "SELECT count(*) FROM published_feed") == [(0,)]


def test_a_child_cannot_point_into_another_organisation(upgraded):
    """The composite keys: a check-in of organisation B on a key result of A is refused."""
    with pytest.raises(sa.exc.IntegrityError, match="check_in_key_result_id_fkey"):
        with upgraded.begin() as conn:
            conn.execute(sa.text("INSERT INTO check_in (key_result_id, organisation_id, value, author)"
                                 f" VALUES ('{KR}', '{B}', 1, 'bob')"))
