"""Webhook routes: thin handlers over ``webhooks``; each request is one transaction."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import path_id, read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.automation import models, rules, stream, webhooks
from okr_extension.automation.runtime import AUTOMATION
from okr_extension.keys import USER
from okr_extension.transactions import transaction

TAG = "webhooks"
ITEM = "/api/webhooks/{id}"


async def create_webhook(request: web.Request) -> web.Response:
    body = await read_json(request, models.WebhookCreate)
    async with transaction(request) as conn:
        item = await webhooks.create(conn, request[USER], body, request.app[AUTOMATION].settings)
    return respond(models.WebhookCreated, item, status=201, headers={"Location": f"/api/webhooks/{item['id']}"})


async def list_webhooks(request: web.Request) -> web.Response:
    query = read_query(request, models.WebhookQuery)
    async with transaction(request) as conn:
        items = await webhooks.list_all(conn, request[USER], query.organisation_id)
    return respond(models.WebhookList, {"items": items})


async def get_webhook(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        item = await webhooks.get(conn, request[USER], path_id(request))
    return respond(models.WebhookOut, item)


async def update_webhook(request: web.Request) -> web.Response:
    webhook_id = path_id(request)
    patch = await read_json(request, models.WebhookPatch)
    async with transaction(request) as conn:
        item = await webhooks.update(conn, request[USER], webhook_id, patch, request.app[AUTOMATION].settings)
    request.app[AUTOMATION].deliverer.wake.set()  # re-enabled: its pending deliveries are due
    return respond(models.WebhookOut, item)


async def delete_webhook(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await webhooks.delete(conn, request[USER], path_id(request))
    return no_content()


async def list_deliveries(request: web.Request) -> web.Response:
    webhook_id = path_id(request)
    query = read_query(request, models.DeliveryQuery)
    async with transaction(request) as conn:
        items, cursor = await webhooks.deliveries(conn, request[USER], webhook_id, query)
    return respond(models.DeliveryPage, {"items": items, "next_cursor": cursor})


async def replay_delivery(request: web.Request) -> web.Response:
    webhook_id, delivery_id = path_id(request), path_id(request, "delivery_id")
    async with transaction(request) as conn:
        item = await webhooks.replay_one(conn, request[USER], webhook_id, delivery_id)
    request.app[AUTOMATION].deliverer.wake.set()
    return respond(models.DeliveryOut, item, status=202)


async def replay_range(request: web.Request) -> web.Response:
    webhook_id = path_id(request)
    body = await read_json(request, models.ReplayRange)
    async with transaction(request) as conn:
        created = await webhooks.replay_range(conn, request[USER], webhook_id, body)
    request.app[AUTOMATION].deliverer.wake.set()
    return respond(models.ReplayResult, {"deliveries": created}, status=202)


async def stream_events(request: web.Request) -> web.StreamResponse:
    query = read_query(request, models.EventStreamQuery)
    position = stream.last_event_id(request, query.last_event_id)
    runtime = request.app[AUTOMATION]
    return await stream.serve(request, runtime.engine, runtime.closing,
                              stream.scope(request[USER], query.organisation_id, query.kind), position,
                              query.max_seconds)


async def create_rule(request: web.Request) -> web.Response:
    body = await read_json(request, models.RuleCreate)
    async with transaction(request) as conn:
        item = await rules.create(conn, request[USER], body)
    return respond(models.RuleOut, item, status=201, headers={"Location": f"/api/rules/{item['id']}"})


async def list_rules(request: web.Request) -> web.Response:
    query = read_query(request, models.RuleQuery)
    async with transaction(request) as conn:
        items = await rules.list_all(conn, request[USER], query.organisation_id)
    return respond(models.RuleList, {"items": items})


async def get_rule(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        item = await rules.get(conn, request[USER], path_id(request))
    return respond(models.RuleOut, item)


async def update_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request)
    patch = await read_json(request, models.RulePatch)
    async with transaction(request) as conn:
        item = await rules.update(conn, request[USER], rule_id, patch)
    return respond(models.RuleOut, item)


async def delete_rule(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await rules.delete(conn, request[USER], path_id(request))
    return no_content()


async def list_rule_runs(request: web.Request) -> web.Response:
    rule_id = path_id(request)
    query = read_query(request, models.RunQuery)
    async with transaction(request) as conn:
        items, cursor = await rules.runs(conn, request[USER], rule_id, query)
    return respond(models.RunPage, {"items": items, "next_cursor": cursor})


async def dry_run_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request)
    body = await read_json(request, models.DryRunRange)
    async with transaction(request) as conn:
        result = await rules.dry_run(conn, request[USER], rule_id, body)
    return respond(models.DryRunResult, result)


_ERRORS = (401, 403, 404)
RULE = "/api/rules/{id}"
OPERATIONS = [
    Operation("POST", "/api/webhooks", create_webhook,
              "Subscribe a URL to an organisation's events (admins); the signing secret is shown once", TAG,
              body=models.WebhookCreate, response=models.WebhookCreated, status=201, errors=_ERRORS,
              token_scope="admin"),
    Operation("GET", "/api/webhooks", list_webhooks, "The webhooks of the organisations you administer", TAG,
              query=models.WebhookQuery, response=models.WebhookList, errors=(401,)),
    Operation("GET", ITEM, get_webhook, "Get a webhook (never its secret)", TAG, response=models.WebhookOut,
              errors=_ERRORS),
    Operation("PATCH", ITEM, update_webhook, "Change a webhook's URL, kinds or goal filter; enable or disable it",
              TAG, body=models.WebhookPatch, response=models.WebhookOut, errors=_ERRORS, token_scope="admin"),
    Operation("DELETE", ITEM, delete_webhook, "Delete a webhook and its delivery log", TAG, status=204,
              errors=_ERRORS, token_scope="admin"),
    Operation("GET", ITEM + "/deliveries", list_deliveries, "The webhook's deliveries, newest first", TAG,
              query=models.DeliveryQuery, response=models.DeliveryPage, errors=_ERRORS),
    Operation("POST", ITEM + "/deliveries/{delivery_id}/replay", replay_delivery,
              "Send a delivery's event again (a new delivery, same event id)", TAG,
              response=models.DeliveryOut, status=202, errors=_ERRORS, token_scope="admin"),
    Operation("POST", ITEM + "/replay", replay_range,
              "Send again every subscribed event that occurred in a time range", TAG,
              body=models.ReplayRange, response=models.ReplayResult, status=202, errors=_ERRORS,
              token_scope="admin"),
    Operation("POST", "/api/rules", create_rule, "Create a rule: on an event or an RRULE schedule, do an action "
              "(admins)", "rules", body=models.RuleCreate, response=models.RuleOut, status=201,
              errors=(401, 403, 404, 409), token_scope="admin"),
    Operation("GET", "/api/rules", list_rules, "The rules of the organisations you administer", "rules",
              query=models.RuleQuery, response=models.RuleList, errors=(401,)),
    Operation("GET", RULE, get_rule, "Get a rule", "rules", response=models.RuleOut, errors=_ERRORS),
    Operation("PATCH", RULE, update_rule, "Change a rule (a new trigger starts from now)", "rules",
              body=models.RulePatch, response=models.RuleOut, errors=_ERRORS, token_scope="admin"),
    Operation("DELETE", RULE, delete_rule, "Delete a rule and its audit records", "rules", status=204,
              errors=_ERRORS, token_scope="admin"),
    Operation("GET", RULE + "/runs", list_rule_runs, "The rule's runs (audit), newest first", "rules",
              query=models.RunQuery, response=models.RunPage, errors=_ERRORS),
    Operation("POST", RULE + "/dry-run", dry_run_rule,
              "What the rule would have done over a past range (nothing is written)", "rules",
              body=models.DryRunRange, response=models.DryRunResult, errors=_ERRORS, token_scope="admin"),
    Operation("GET", "/api/events/stream", stream_events,
              "Live events of your organisations (Server-Sent Events; resume with Last-Event-ID)", "events",
              query=models.EventStreamQuery, content_type="text/event-stream", errors=(400, 401)),
]
