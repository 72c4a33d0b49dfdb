"""How the schema maps onto a distributed PostgreSQL (Citus): the single source of the layout
in docs/scale-out.md, and of the rules tests/test_distribution.py checks against the live schema.

Calendar data is distributed by its owner (the account name), goal data by its organisation;
the small tables every request reads (accounts, addresses, memberships) are reference tables,
copied to every node. A table's primary key and unique constraints must include its
distribution key (the engine can only enforce uniqueness within one shard). ``EXCEPTIONS``
lists today's departures from the rule, each with its reason and the change that removes it:
the test fails on a new departure and on an exception that no longer applies.

``python -m storage_plugin.distribution`` prints the DDL that distributes a migrated database.
"""
from __future__ import annotations

from dataclasses import dataclass

OWNER, ORGANISATION = "owner", "organisation_id"


@dataclass(frozen=True)
class Distributed:
    key: str                 # the distribution column
    colocate_with: str       # the table whose shards this one's follow (itself: the group's root)


@dataclass(frozen=True)
class Reference:
    """Copied to every node: small, read by most requests, written rarely."""


LAYOUT: dict[str, Distributed | Reference] = {
    # -- reference tables
    "account": Reference(),
    "account_address": Reference(),
    "membership": Reference(),
    "schema_migration": Reference(),
    "server_secret": Reference(),
    # shares and squads are read by grantee on every request of a sharee, across owners
    "calendar_share": Reference(),
    "squad": Reference(),
    "squad_member": Reference(),
    "team_account": Reference(),
    # delegations are read by delegate on every request of a proxy, across delegators
    "calendar_delegation": Reference(),
    # -- calendar data, by owner (the first segment of a collection's path)
    "collection": Distributed(OWNER, "collection"),
    "item": Distributed(OWNER, "collection"),
    "item_occurrence": Distributed(OWNER, "collection"),
    "tombstone": Distributed(OWNER, "collection"),
    "item_link": Distributed(OWNER, "collection"),
    "link_total": Distributed(OWNER, "collection"),
    "feed_subscription": Distributed(OWNER, "collection"),
    "published_feed": Distributed(OWNER, "collection"),
    "account_availability": Distributed("account", "collection"),
    "api_token": Distributed("account", "collection"),
    "web_session": Distributed("account", "collection"),
    "schedule_job": Distributed("recipient_account", "collection"),
    "email_job": Distributed("organizer_account", "collection"),
    "mail_reply": Distributed("organizer_account", "collection"),
    "resource_booking": Distributed("account", "collection"),
    "share_view": Distributed("account", "collection"),
    # -- goal data, by organisation
    "organisation": Distributed("id", "organisation"),
    "objective": Distributed(ORGANISATION, "organisation"),
    "key_result": Distributed(ORGANISATION, "organisation"),
    "check_in": Distributed(ORGANISATION, "organisation"),
    "kpi": Distributed(ORGANISATION, "organisation"),
    "kpi_measurement": Distributed(ORGANISATION, "organisation"),
    "automation_rule": Distributed(ORGANISATION, "organisation"),
    "automation_rule_run": Distributed(ORGANISATION, "organisation"),
    "automation_event": Distributed(ORGANISATION, "organisation"),
    "automation_sweep": Distributed(ORGANISATION, "organisation"),
    "automation_subject_state": Distributed(ORGANISATION, "organisation"),
    "webhook": Distributed(ORGANISATION, "organisation"),
    "webhook_delivery": Distributed(ORGANISATION, "organisation"),
    "calendar_resource": Distributed(ORGANISATION, "organisation"),
    # -- login throttling: keyed by the account name or address it counts
    "login_failure": Distributed("key", "login_failure"),
    # -- the polled mailboxes' leases (server/mail_replies/): one row per mailbox
    "mailbox_poll": Distributed("mailbox", "mailbox_poll"),
}

_BY_ID = "keyed by a global id alone: make the primary key (key, id)"
_LOOKUP = ("looked up by a secret's hash without knowing the owner: move the lookup to a reference "
           "table (hash → owner), keep (owner, hash) unique here")
_NO_ORG = "no organisation_id column yet: add it, copied from the parent row"

# (table, constraint or unique index, or "column" when the key column itself is missing) → why.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("collection", "collection_id_key"): (
        "calendar_share (a reference table), share_view (keyed by the sharee) and published_feed refer to "
        "a collection by id alone, and Citus keeps no foreign key from a reference table or across keys: "
        "delete their rows with the collection instead of by a foreign key, or refer by (id, owner)"),
    ("published_feed", "published_feed_pkey"): _BY_ID,
    ("published_feed", "published_feed_token_hash_key"): _LOOKUP,
    ("api_token", "api_token_pkey"): _BY_ID,
    ("api_token", "api_token_secret_sha256_key"): _LOOKUP,
    ("web_session", "web_session_pkey"): _LOOKUP,
    ("calendar_resource", "calendar_resource_pkey"): _BY_ID,
    ("calendar_resource", "calendar_resource_account_key"): "a resource's account is unique across "
                                                            "organisations: look it up in a reference table",
    ("objective", "objective_pkey"): _BY_ID + " (UNIQUE (id, organisation_id) exists already)",
    ("key_result", "key_result_pkey"): _BY_ID,
    ("check_in", "check_in_pkey"): _BY_ID,
    ("kpi", "kpi_pkey"): _BY_ID,
    ("kpi_measurement", "column"): _NO_ORG,
    ("kpi_measurement", "kpi_measurement_pkey"): "becomes (organisation_id, kpi_id, measured_at)",
    ("automation_rule", "automation_rule_pkey"): _BY_ID,
    ("automation_rule_run", "column"): _NO_ORG,
    ("automation_rule_run", "automation_rule_run_pkey"): _BY_ID,
    ("automation_rule_run", "automation_rule_run_rule_id_run_key_key"): "becomes (organisation_id, rule_id, run_key)",
    ("automation_event", "automation_event_pkey"): "one global sequence (seq) orders every event: "
                                                   "per-organisation sequences, key (organisation_id, seq)",
    ("automation_event", "automation_event_id_key"): _BY_ID,
    ("automation_event", "automation_event_idempotency_key_key"): "becomes (organisation_id, idempotency_key)",
    ("automation_event", "automation_event_position_key"): "a global position: per organisation",
    ("automation_subject_state", "column"): _NO_ORG,
    ("automation_subject_state", "automation_subject_state_pkey"): "becomes (organisation_id, subject_type, subject_id)",
    ("webhook", "webhook_pkey"): _BY_ID,
    ("webhook_delivery", "column"): _NO_ORG,
    ("webhook_delivery", "webhook_delivery_pkey"): _BY_ID,
}


def ddl() -> str:
    """The statements that distribute a migrated database (Citus 12+), roots before their groups."""
    lines = [f"SELECT create_reference_table('{table}');"
             for table, placement in LAYOUT.items() if isinstance(placement, Reference)]
    distributed = {t: p for t, p in LAYOUT.items() if isinstance(p, Distributed)}
    roots = [t for t, p in distributed.items() if p.colocate_with == t]
    for root in roots:
        for table, placement in distributed.items():
            if placement.colocate_with != root:
                continue
            colocation = "" if table == root else f", colocate_with => '{root}'"
            lines.append(f"SELECT create_distributed_table('{table}', '{placement.key}'{colocation});")
    return "\n".join(lines)


if __name__ == "__main__":
    print(ddl())
