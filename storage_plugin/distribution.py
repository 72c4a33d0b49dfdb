"""How the schema maps onto a distributed PostgreSQL (Citus): the single source of the layout
in docs/scale-out.md, and of the rules tests/test_distribution.py checks against the live schema.

Calendar data is distributed by its owner (the account name), goal data by its organisation;
the small tables every request reads (accounts, addresses, memberships, organisations, the
secrets a request is authenticated by) are reference tables, copied to every node. A table's primary key and unique constraints must include its
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
    # one row per organisation, written when it is renamed; memberships, squads, team accounts and
    # shares (reference tables themselves) refer to it, which only a reference table allows
    # (listed before them, as the statements run in this order)
    "organisation": Reference(),
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
    # read by the hash of a secret, without knowing the owner, on every request it authenticates:
    # a token or a sign-in is a row per person and device, written when made, revoked or expired
    # (a token's last use is noted at most once an hour: okr_extension/tokens.py)
    "api_token": Reference(),
    "web_session": Reference(),
    # whose feed a secret feed URL opens (the feeds themselves, tied to a calendar, are by owner)
    "published_feed_token": Reference(),
    # rooms and resources, found by their account across organisations when an invitation reaches
    # them (storage_plugin/resources.py, directory.py): one row per room, written by its managers
    "calendar_resource": Reference(),
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
    "schedule_job": Distributed("recipient_account", "collection"),
    "email_job": Distributed("organizer_account", "collection"),
    "mail_reply": Distributed("organizer_account", "collection"),
    "resource_booking": Distributed("account", "collection"),
    "share_view": Distributed("account", "collection"),
    # -- goal data, by organisation (the organisation itself is a reference table)
    "objective": Distributed(ORGANISATION, "objective"),
    "key_result": Distributed(ORGANISATION, "objective"),
    "check_in": Distributed(ORGANISATION, "objective"),
    "kpi": Distributed(ORGANISATION, "objective"),
    "kpi_measurement": Distributed(ORGANISATION, "objective"),
    "automation_rule": Distributed(ORGANISATION, "objective"),
    "automation_rule_run": Distributed(ORGANISATION, "objective"),
    "automation_event": Distributed(ORGANISATION, "objective"),
    "automation_sweep": Distributed(ORGANISATION, "objective"),
    "automation_subject_state": Distributed(ORGANISATION, "objective"),
    "webhook": Distributed(ORGANISATION, "objective"),
    "webhook_delivery": Distributed(ORGANISATION, "objective"),
    # -- login throttling: keyed by the account name or address it counts
    "login_failure": Distributed("key", "login_failure"),
    # -- the polled mailboxes' leases (server/mail_replies/): one row per mailbox
    "mailbox_poll": Distributed("mailbox", "mailbox_poll"),
}

# (table, constraint or unique index, or "column" when the key column itself is missing) → why.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("collection", "collection_id_key"): (
        "calendar_share (a reference table), share_view (keyed by the sharee) and published_feed refer to "
        "a collection by id alone, and Citus keeps no foreign key from a reference table or across keys: "
        "delete their rows with the collection instead of by a foreign key, or refer by (id, owner)"),
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
