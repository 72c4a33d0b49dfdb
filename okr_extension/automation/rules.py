"""Rules: on an event or an iCalendar schedule, do one action of a fixed vocabulary.

Triggers and actions are validated shapes (``models.Trigger``, ``models.Action``): no code, no
SQL, templates with a closed set of placeholders. Schedules are RRULEs expanded by dateutil from
a local DTSTART in an IANA zone, so "Mondays 09:00 Europe/Berlin" stays 09:00 across DST.

Rules run in the evaluator's sweep of their organisation (one process at a time) and, besides,
lock their row while running. Each occurrence or event is one run with an audit record keyed
``(rule, occurrence or event)``; calendar items get a UID derived from the same key and are
written only if absent, so a run repeated after a crash creates nothing twice.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import string
import uuid
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from dateutil import rrule as dateutil_rrule
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from okr_extension import access
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.automation import models, outbox, webhooks
from okr_extension.goals.crud import invalid
from okr_extension.automation.tables import automation_event as event
from okr_extension.automation.tables import automation_rule, automation_rule_run
from okr_extension.tables import key_result
from storage_plugin import clock, directory, writer

MAX_RULES_PER_ORGANISATION = 100
LIST_LIMIT = 1000  # occurrences or events one run or dry run handles
PLACEHOLDERS = {"rule", "date", "time", "kind", "title"}
_RRULE_CHARACTERS = set(string.ascii_uppercase + string.digits + "=;,+-")

rule_table, run_table = automation_rule, automation_rule_run
_TRIGGER, _ACTION = TypeAdapter(models.Trigger), TypeAdapter(models.Action)


# -- the vocabulary -----------------------------------------------------------------------------
def check_template(field_name: str, template: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise invalid(field_name, f"{e} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conversion in parts:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            raise invalid(field_name, f"unknown placeholder {{{name}}}; use {', '.join(sorted(PLACEHOLDERS))}")


def schedule(trigger: dict) -> dateutil_rrule.rrule:
    """The trigger's occurrences as a dateutil rule (aware datetimes in its zone)."""
    try:
        zone = ZoneInfo(trigger["tzid"])
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("trigger.tzid", f"unknown time zone {trigger['tzid']!r}; use an IANA name such as "
                                      "Europe/Berlin") from None
    start = trigger["dtstart"]
    start = datetime.fromisoformat(start) if isinstance(start, str) else start
    if start.tzinfo is not None:
        raise invalid("trigger.dtstart", "give the local time without an offset; the zone is tzid")
    value = trigger["rrule"].removeprefix("RRULE:")
    if not set(value) <= _RRULE_CHARACTERS or "FREQ=" not in value:
        raise invalid("trigger.rrule", "give an RRULE value such as FREQ=WEEKLY;BYDAY=MO;BYHOUR=9")
    try:
        rule = dateutil_rrule.rrulestr(value, dtstart=start.replace(tzinfo=zone))
    except (ValueError, TypeError) as e:
        raise invalid("trigger.rrule", f"not a valid RRULE: {e}") from None
    if rule._freq > dateutil_rrule.HOURLY:
        raise invalid("trigger.rrule", "FREQ must be HOURLY or slower (YEARLY, MONTHLY, WEEKLY, DAILY)")
    return rule


def occurrences(trigger: dict, after: datetime, until: datetime, limit: int = LIST_LIMIT) -> list[datetime]:
    """Occurrences in (after, until], oldest first, at most ``limit`` (the newest ones)."""
    found: list[datetime] = []
    for moment in schedule(trigger):
        if moment > until:
            break
        if moment > after:
            found.append(moment)
            if len(found) > limit:
                found.pop(0)
    return found


async def _check_action(conn: AsyncConnection, user: str, organisation_id: uuid.UUID, action: dict) -> None:
    if action["type"] == "webhook":
        found = await conn.execute(text("SELECT 1 FROM webhook WHERE id = :id AND organisation_id = :org"),
                                   {"id": action["webhook_id"], "org": organisation_id})
        if found.first() is None:
            raise invalid("action.webhook_id", "no webhook with this id in the organisation")
        return
    check_template("action.summary", action["summary"])
    try:
        path = writer.calendar_path(action["calendar"])
    except ValueError as e:
        raise invalid("action.calendar", str(e)) from None
    if writer.owner_of(path) != user:
        raise invalid("action.calendar", "name one of your own calendars (the rule writes as you)")
    component = "VTODO" if action["type"] == "create_task" else "VEVENT"
    calendar = (await conn.execute(text("SELECT tag, props FROM collection WHERE path = :path"),
                                   {"path": path})).first()
    if calendar is None or calendar.tag != "VCALENDAR":
        raise invalid("action.calendar", f"you have no calendar /{path}/")
    allowed = (calendar.props or {}).get("C:supported-calendar-component-set")
    if allowed and component not in allowed.split(","):
        raise invalid("action.calendar", f"/{path}/ does not take {component} components")
    if action.get("key_result_id") is not None:
        found = await conn.execute(sa.select(key_result.c.id).where(
            key_result.c.id == action["key_result_id"], key_result.c.organisation_id == organisation_id))
        if found.first() is None:
            raise invalid("action.key_result_id", "no key result with this id in the organisation")


async def _check(conn: AsyncConnection, user: str, organisation_id: uuid.UUID, trigger: dict, action: dict) -> None:
    if trigger["type"] == "schedule":
        schedule(trigger)
    await _check_action(conn, user, organisation_id, action)


# -- CRUD -----------------------------------------------------------------------------------------
def _json(model) -> dict:
    return model.model_dump(mode="json")


def present(row) -> dict:
    """A rule as the API shows it (trigger and action as their typed shapes)."""
    return {**row._mapping, "trigger": _TRIGGER.validate_json(json.dumps(row.trigger)),
            "action": _ACTION.validate_json(json.dumps(row.action))}


async def _load(conn: AsyncConnection, user: str, rule_id: uuid.UUID, for_update: bool = False):
    return await webhooks.load_administered(conn, rule_table, "rule", user, rule_id, for_update)


async def _stream_end(conn: AsyncConnection) -> int:
    return (await conn.execute(text("SELECT coalesce(max(position), 0) FROM automation_event"))).scalar_one()


async def create(conn: AsyncConnection, user: str, body: models.RuleCreate) -> dict:
    await access.require_member(conn, user, body.organisation_id, "admin", "organisation")
    count = (await conn.execute(sa.select(sa.func.count()).select_from(rule_table).where(
        rule_table.c.organisation_id == body.organisation_id))).scalar_one()
    if count >= MAX_RULES_PER_ORGANISATION:
        raise Problem(409, f"the organisation has {count} rules, the most it may have; delete some first")
    trigger, action = _json(body.trigger), _json(body.action)
    await _check(conn, user, body.organisation_id, trigger, action)
    now = clock.now()
    row = (await conn.execute(sa.insert(rule_table).values(
        organisation_id=body.organisation_id, name=body.name, created_by=user, trigger=trigger, action=action,
        enabled=body.enabled, max_runs_per_hour=body.max_runs_per_hour, cursor_time=now,
        cursor_position=await _stream_end(conn), created=now, updated=now).returning(*rule_table.c))).one()
    return present(row)


async def list_all(conn: AsyncConnection, user: str, organisation_id: uuid.UUID | None) -> list[dict]:
    administered = access.organisations_of(user, access.ADMINISTERING)
    select = sa.select(rule_table).where(rule_table.c.organisation_id.in_(administered))
    if organisation_id is not None:
        select = select.where(rule_table.c.organisation_id == organisation_id)
    return [present(r) for r in await conn.execute(select.order_by(rule_table.c.created, rule_table.c.id))]


async def get(conn: AsyncConnection, user: str, rule_id: uuid.UUID) -> dict:
    return present(await _load(conn, user, rule_id))


async def update(conn: AsyncConnection, user: str, rule_id: uuid.UUID, patch: models.RulePatch) -> dict:
    row = await _load(conn, user, rule_id, for_update=True)
    changes = patch.changes()
    for name in changes:
        if changes[name] is None:
            raise invalid(name, "must not be null")
    if "trigger" in changes:
        changes["trigger"] = _json(patch.trigger)
        # A new trigger starts from now: no occurrence or event of before is caught up.
        changes |= {"cursor_time": clock.now(), "cursor_position": await _stream_end(conn)}
    if "action" in changes:
        changes["action"] = _json(patch.action)
    if "trigger" in changes or "action" in changes:
        # The actions write as the person who last set them.
        changes["created_by"] = user
        await _check(conn, user, row.organisation_id, changes.get("trigger", row.trigger),
                     changes.get("action", row.action))
    if changes:
        changes["updated"] = clock.now()
        row = (await conn.execute(sa.update(rule_table).where(rule_table.c.id == rule_id).values(changes)
                                  .returning(*rule_table.c))).one()
    return present(row)


async def delete(conn: AsyncConnection, user: str, rule_id: uuid.UUID) -> None:
    await _load(conn, user, rule_id, for_update=True)
    await conn.execute(sa.delete(rule_table).where(rule_table.c.id == rule_id))


async def runs(conn: AsyncConnection, user: str, rule_id: uuid.UUID, query: models.RunQuery) -> tuple[list, str | None]:
    await _load(conn, user, rule_id)
    select = sa.select(run_table).where(run_table.c.rule_id == rule_id)
    select = pagination.page_query(select, run_table.c.ran, run_table.c.id, "-ran", True, query.cursor, query.limit)
    rows, cursor = pagination.split_page((await conn.execute(select)).all(), query.limit, "-ran", lambda r: r.ran)
    return [dict(r._mapping) for r in rows], cursor


# -- what a run does ------------------------------------------------------------------------------
def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def render(rule, moment: datetime, event_body: dict | None) -> dict:
    """The action with its texts filled in for one occurrence or event."""
    action = dict(rule.action)
    local = moment.astimezone(ZoneInfo(rule.trigger["tzid"])) if rule.trigger["type"] == "schedule" else moment
    data = (event_body or {}).get("data") or {}
    values = {"rule": rule.name, "date": local.date().isoformat(), "time": local.strftime("%H:%M"),
              "kind": (event_body or {}).get("kind", ""), "title": str(data.get("title") or data.get("name") or "")}
    if "summary" in action:
        action["summary"] = action["summary"].format_map(values)
    if action["type"] == "create_task":
        action |= {"start": moment.astimezone(timezone.utc).isoformat(),
                   "due": (moment + timedelta(hours=action["due_in_hours"])).astimezone(timezone.utc).isoformat()}
    elif action["type"] == "create_event":
        action |= {"start": moment.astimezone(timezone.utc).isoformat(),
                   "end": (moment + timedelta(minutes=action["duration_minutes"])).astimezone(timezone.utc).isoformat()}
    return action


def calendar_object(rule, run_key: str, planned: dict, now: datetime) -> tuple[str, str]:
    """(UID, iCalendar text) of the item a run writes. The UID depends only on rule and run."""
    uid = f"planerix-rule-{rule.id}-{hashlib.sha256(run_key.encode()).hexdigest()[:24]}"
    start = datetime.fromisoformat(planned["start"])
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix//rules//EN"]
    if planned["type"] == "create_task":
        lines += ["BEGIN:VTODO", f"UID:{uid}", f"DTSTAMP:{_utc(now)}", f"DTSTART:{_utc(start)}",
                  f"DUE:{_utc(datetime.fromisoformat(planned['due']))}", f"SUMMARY:{_escape(planned['summary'])}"]
        if planned.get("key_result_id"):
            lines.append(f"X-PLANERIX-KEY-RESULT:{planned['key_result_id']}")
        assignee, organizer = planned.get("assignee"), planned.get("organizer")
        if assignee and organizer:
            # Assigned as RFC 5545 allows (ATTENDEE on the VTODO). SCHEDULE-AGENT=CLIENT: a record
            # of who does it in the list it was written to, not an invitation sent elsewhere.
            lines += [f"ORGANIZER:{organizer}",
                      f'ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;SCHEDULE-AGENT=CLIENT;'
                      f'CN="{assignee["name"]}":{assignee["address"]}']
        lines += [f"X-PLANERIX-RULE:{rule.id}", "END:VTODO"]
    else:
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{_utc(now)}", f"DTSTART:{_utc(start)}",
                  f"DTEND:{_utc(datetime.fromisoformat(planned['end']))}", f"SUMMARY:{_escape(planned['summary'])}",
                  f"X-PLANERIX-RULE:{rule.id}", "BEGIN:VALARM", "ACTION:DISPLAY",
                  f"DESCRIPTION:{_escape(planned['summary'])}", f"TRIGGER:-PT{planned['alarm_minutes_before']}M",
                  "END:VALARM", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return uid, "\r\n".join(lines) + "\r\n"


StorageFactory = Callable[[], Awaitable[object]]


async def _address(conn: AsyncConnection, account: str) -> str | None:
    return (await conn.execute(directory.select_addresses(account).limit(1))).scalar()


async def _assignment(conn: AsyncConnection, author: str, key_result_id) -> dict:
    """A task for a key result is assigned to the key result's owner (when both the owner and the
    rule's author have an email address: an assignment names people by address)."""
    owner = (await conn.execute(sa.select(key_result.c.owner).where(key_result.c.id == key_result_id))).scalar()
    address, organizer = (await _address(conn, owner), await _address(conn, author)) if owner else (None, None)
    if not (address and organizer):
        return {}
    who = (await conn.execute(directory.select_identity(owner))).first()
    name = "".join(c for c in (who.display_name or owner) if c not in '"\r\n')
    return {"assignee": {"address": address, "name": name}, "organizer": organizer}


async def _execute(conn: AsyncConnection, storage: StorageFactory, rule, run_key: str, planned: dict,
                   event_body: dict | None, now: datetime) -> dict:
    if planned["type"] == "webhook":
        subject = outbox.Subject("rule", rule.id, rule.organisation_id, f"/api/rules/{rule.id}")
        event_id = await outbox.record(conn, "rule.fired", subject, f"rule.fired:{rule.id}:{run_key}", None,
                                       {"rule": rule.name, "trigger": rule.trigger, "event": event_body}, now,
                                       {"run": run_key})
        await conn.execute(text(
            "INSERT INTO webhook_delivery (webhook_id, event_seq, organisation_id, next_attempt, created)"
            " SELECT :webhook_id, e.seq, e.organisation_id, :now, :now FROM automation_event e"
            " WHERE e.id = :event_id AND e.organisation_id = :organisation_id"
            " AND NOT EXISTS (SELECT 1 FROM webhook_delivery d WHERE d.event_seq = e.seq"
            "   AND d.organisation_id = e.organisation_id AND d.webhook_id = :webhook_id)"),
            {"webhook_id": planned["webhook_id"], "now": now, "event_id": event_id,
             "organisation_id": rule.organisation_id})
        return {"event_id": str(event_id) if event_id else None}
    if planned["type"] == "create_task" and planned.get("key_result_id"):
        planned = {**planned, **await _assignment(conn, rule.created_by, planned["key_result_id"])}
    uid, ics = calendar_object(rule, run_key, planned, now)
    try:
        written = await asyncio.to_thread(writer.write_items, await storage(), rule.created_by, planned["calendar"],
                                          [writer.Put(ics, href=f"{uid}.ics", if_none_match=True)])
        return {"uid": uid, "href": f"{planned['calendar'].rstrip('/')}/{written[0].href}"}
    except writer.PreconditionFailed:  # written by an earlier try of this very run
        return {"uid": uid, "already": True}


_RUN = text(
    "INSERT INTO automation_rule_run (rule_id, organisation_id, run_key, occurrence, event_id, outcome, detail, ran)"
    " VALUES (:rule_id, :organisation_id, :run_key, :occurrence, :event_id, :outcome, CAST(:detail AS jsonb), :ran)"
    " ON CONFLICT (rule_id, run_key, organisation_id) DO NOTHING")


async def run_rules(engine: AsyncEngine, storage: StorageFactory, organisation_id: uuid.UUID, now: datetime) -> int:
    """Run every enabled rule of the organisation up to ``now``; returns the number of runs recorded."""
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(rule_table.c.id).where(
            rule_table.c.organisation_id == organisation_id, rule_table.c.enabled))).scalars().all()
    return sum([await _run_rule(engine, storage, rule_id, now) for rule_id in ids])


async def _run_rule(engine: AsyncEngine, storage: StorageFactory, rule_id: uuid.UUID, now: datetime) -> int:
    async with engine.begin() as conn:
        rule = (await conn.execute(sa.select(rule_table).where(rule_table.c.id == rule_id, rule_table.c.enabled)
                                   .with_for_update(skip_locked=True))).first()
        if rule is None:
            return 0  # gone, disabled, or being run by another process
        recent = (await conn.execute(sa.select(sa.func.count()).select_from(run_table).where(
            run_table.c.rule_id == rule_id, run_table.c.outcome == "done",
            run_table.c.ran > now - timedelta(hours=1)))).scalar_one()
        budget = rule.max_runs_per_hour - recent
        if rule.trigger["type"] == "schedule":
            items = [(f"occurrence:{moment.isoformat()}", moment, None, None)
                     for moment in occurrences(rule.trigger, rule.cursor_time, now)]
        else:
            events = await _matching_events(conn, rule, rule.cursor_position)
            items = [(f"event:{row.id}", row.occurred, row.id, row) for row in events]
        for run_key, moment, event_id, source in items:
            body = source.body if source is not None else None
            if budget <= 0:
                outcome, detail = "skipped", {"reason": f"rate limit: {rule.max_runs_per_hour} runs per hour"}
            else:
                planned = render(rule, moment, body)
                try:
                    detail = await _execute(conn, storage, rule, run_key, planned, body, now)
                    outcome = "done"
                    budget -= 1
                except writer.WriteError as e:
                    outcome, detail = "failed", {"error": e.reason}
            await conn.execute(_RUN, {"rule_id": rule_id, "organisation_id": rule.organisation_id, "run_key": run_key, "occurrence": moment if source is None else None,
                                      "event_id": event_id, "outcome": outcome, "detail": json.dumps(detail), "ran": now})
        if items:
            last = items[-1]
            values = ({"cursor_time": last[1]} if rule.trigger["type"] == "schedule"
                      else {"cursor_position": last[3].position})
            await conn.execute(sa.update(rule_table).where(rule_table.c.id == rule_id).values(values))
        return len(items)


async def _matching_events(conn: AsyncConnection, rule, after_position: int | None, start=None, end=None) -> list:
    clauses = [event.c.organisation_id == rule.organisation_id, event.c.position.is_not(None),
               event.c.kind.in_(rule.trigger["kinds"])]
    if after_position is not None:
        clauses.append(event.c.position > after_position)
    if start is not None:
        clauses += [event.c.occurred >= start, event.c.occurred < end]
    if rule.trigger.get("goal_id"):
        clauses.append(sa.literal(uuid.UUID(rule.trigger["goal_id"])) == sa.any_(event.c.goal_ids))
    return (await conn.execute(sa.select(event.c.id, event.c.occurred, event.c.body, event.c.position)
                               .where(*clauses).order_by(event.c.position).limit(LIST_LIMIT))).all()


async def dry_run(conn: AsyncConnection, user: str, rule_id: uuid.UUID, body: models.DryRunRange) -> dict:
    """What the rule would have done over [start, end): nothing is written."""
    rule = await _load(conn, user, rule_id)
    if body.end <= body.start:
        raise invalid("end", "must be after start")
    if rule.trigger["type"] == "schedule":
        moments = occurrences(rule.trigger, body.start - timedelta(microseconds=1),
                              body.end - timedelta(microseconds=1), LIST_LIMIT + 1)
        items = [{"occurrence": m, "event_id": None, "action": render(rule, m, None)} for m in moments]
    else:
        events = await _matching_events(conn, rule, None, body.start, body.end)
        items = [{"occurrence": None, "event_id": row.id, "action": render(rule, row.occurred, row.body)}
                 for row in events]
    return {"items": items[:LIST_LIMIT], "truncated": len(items) > LIST_LIMIT}



