"""SQLAlchemy Core view of the goal tables (the schema itself is migrations/*.sql)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, UUID

metadata = sa.MetaData()


def _id():
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _stamps():
    return [sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
            sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now())]


def _uuid(name: str, nullable: bool = False):
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


organisation = sa.Table(
    "organisation", metadata, _id(),
    sa.Column("name", sa.Text), sa.Column("at_risk_below", sa.Float), sa.Column("off_track_below", sa.Float),
    *_stamps())

membership = sa.Table(
    "membership", metadata,
    _uuid("organisation_id"), sa.Column("account", sa.Text), sa.Column("role", sa.Text),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()))

objective = sa.Table(
    "objective", metadata, _id(), _uuid("organisation_id"),
    sa.Column("title", sa.Text), sa.Column("description", sa.Text), sa.Column("owner", sa.Text),
    _uuid("parent_id", nullable=True), sa.Column("priority", sa.Text), sa.Column("status", sa.Text),
    sa.Column("start_date", sa.Date), sa.Column("due_date", sa.Date), sa.Column("tags", ARRAY(sa.Text)),
    *_stamps())

key_result = sa.Table(
    "key_result", metadata, _id(), _uuid("objective_id"), _uuid("organisation_id"),
    sa.Column("title", sa.Text), sa.Column("description", sa.Text), sa.Column("owner", sa.Text),
    sa.Column("kind", sa.Text), sa.Column("start_value", sa.Float), sa.Column("target_value", sa.Float),
    sa.Column("current_value", sa.Float), sa.Column("unit", sa.Text), sa.Column("weight", sa.Float),
    sa.Column("due_date", sa.Date), sa.Column("progress_mode", sa.Text), *_stamps(),
    _uuid("source_kpi_id", nullable=True), sa.Column("source_aggregation", sa.Text))

check_in = sa.Table(
    "check_in", metadata, _id(), _uuid("key_result_id"), _uuid("organisation_id"),
    sa.Column("value", sa.Float), sa.Column("confidence", sa.Float), sa.Column("note", sa.Text),
    sa.Column("author", sa.Text), sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()))

kpi = sa.Table(
    "kpi", metadata, _id(), _uuid("organisation_id"),
    sa.Column("name", sa.Text), sa.Column("description", sa.Text), sa.Column("unit", sa.Text),
    sa.Column("target", sa.Float), sa.Column("baseline", sa.Float),
    sa.Column("warn_threshold", sa.Float), sa.Column("alarm_threshold", sa.Float),
    sa.Column("direction", sa.Text), sa.Column("kind", sa.Text), sa.Column("period", sa.Text),
    sa.Column("aggregation", sa.Text), sa.Column("owner", sa.Text), sa.Column("tags", ARRAY(sa.Text)),
    sa.Column("next_review", sa.Date), *_stamps())

kpi_measurement = sa.Table(
    "kpi_measurement", metadata, _uuid("kpi_id"), _uuid("organisation_id"),
    sa.Column("measured_at", sa.DateTime(timezone=True)), sa.Column("value", sa.Float),
    sa.Column("note", sa.Text), sa.Column("source", sa.Text), sa.Column("author", sa.Text),
    sa.Column("recorded", sa.DateTime(timezone=True), server_default=sa.func.now()))

api_token = sa.Table(
    "api_token", metadata, _id(), sa.Column("account", sa.Text), sa.Column("name", sa.Text),
    sa.Column("prefix", sa.Text), sa.Column("secret_sha256", BYTEA),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("last_used", sa.DateTime(timezone=True)), sa.Column("expires", sa.DateTime(timezone=True)),
    sa.Column("scopes", ARRAY(sa.Text)), sa.Column("organisation_id", UUID(as_uuid=True)))

web_session = sa.Table(
    "web_session", metadata,
    sa.Column("id_sha256", BYTEA, primary_key=True), sa.Column("account", sa.Text),
    sa.Column("csrf_token", sa.Text), sa.Column("created", sa.DateTime(timezone=True)),
    sa.Column("expires", sa.DateTime(timezone=True)))
