"""SQLAlchemy Core view of the automation tables (the schema is migrations/0005_automation.sql)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData()


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True))


automation_event = sa.Table(
    "automation_event", metadata, sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("id", UUID(as_uuid=True)), sa.Column("idempotency_key", sa.Text), sa.Column("kind", sa.Text),
    sa.Column("organisation_id", UUID(as_uuid=True)), sa.Column("subject_type", sa.Text),
    sa.Column("subject_id", sa.Text), sa.Column("goal_ids", ARRAY(UUID(as_uuid=True))),
    sa.Column("body", JSONB), _ts("occurred"), sa.Column("position", sa.BigInteger))

webhook = sa.Table(
    "webhook", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True,
                                   server_default=sa.text("gen_random_uuid()")),
    sa.Column("organisation_id", UUID(as_uuid=True)), sa.Column("url", sa.Text),
    sa.Column("kinds", ARRAY(sa.Text)), sa.Column("goal_id", UUID(as_uuid=True)),
    sa.Column("description", sa.Text), sa.Column("secret", sa.Text), sa.Column("created_by", sa.Text),
    sa.Column("enabled", sa.Boolean), sa.Column("disabled_reason", sa.Text), _ts("failing_since"),
    _ts("created"), _ts("updated"))

webhook_delivery = sa.Table(
    "webhook_delivery", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True,
                                            server_default=sa.text("gen_random_uuid()")),
    sa.Column("webhook_id", UUID(as_uuid=True)), sa.Column("event_seq", sa.BigInteger),
    sa.Column("organisation_id", UUID(as_uuid=True)),
    sa.Column("state", sa.Text), sa.Column("attempts", sa.Integer), _ts("next_attempt"),
    sa.Column("lease_owner", sa.Text), _ts("lease_until"), _ts("last_attempt"),
    sa.Column("last_status", sa.Integer), sa.Column("last_error", sa.Text), _ts("delivered"),
    sa.Column("replay_of", UUID(as_uuid=True)), _ts("created"))

automation_rule = sa.Table(
    "automation_rule", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True,
                                           server_default=sa.text("gen_random_uuid()")),
    sa.Column("organisation_id", UUID(as_uuid=True)), sa.Column("name", sa.Text), sa.Column("created_by", sa.Text),
    sa.Column("trigger", JSONB), sa.Column("action", JSONB), sa.Column("enabled", sa.Boolean),
    sa.Column("max_runs_per_hour", sa.Integer), _ts("cursor_time"), sa.Column("cursor_position", sa.BigInteger),
    _ts("created"), _ts("updated"))

automation_rule_run = sa.Table(
    "automation_rule_run", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True,
                                               server_default=sa.text("gen_random_uuid()")),
    sa.Column("rule_id", UUID(as_uuid=True)), sa.Column("organisation_id", UUID(as_uuid=True)),
    sa.Column("run_key", sa.Text), _ts("occurrence"),
    sa.Column("event_id", UUID(as_uuid=True)), sa.Column("outcome", sa.Text), sa.Column("detail", JSONB), _ts("ran"))
