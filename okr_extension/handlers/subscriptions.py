"""Subscriptions to external feeds: register, inspect (status), change, refresh, remove."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.responses import respond

from okr_extension.feeds import subscriptions
from okr_extension.feeds.http import api, json_body, path_id
from okr_extension.feeds.runtime import FEEDS
from okr_extension.keys import USER
from okr_extension.models import feeds as models


@api
async def create(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    row = await subscriptions.create(feeds.engine, await feeds.storage(), feeds.settings, request[USER],
                                     await json_body(request))
    feeds.scheduler.wake.set()  # the first fetch is due now
    return respond(models.SubscriptionOut, subscriptions.subscription_json(row), status=201,
                   headers={"Location": f"/api/subscriptions/{row.id}"})


@api
async def list_all(request: web.Request) -> web.Response:
    rows = await subscriptions.list_all(request.app[FEEDS].engine, request[USER])
    return respond(models.SubscriptionList, [subscriptions.subscription_json(row) for row in rows])


@api
async def get(request: web.Request) -> web.Response:
    row = await subscriptions.get(request.app[FEEDS].engine, request[USER], path_id(request, "subscription"))
    return respond(models.SubscriptionOut, subscriptions.subscription_json(row))


@api
async def update(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    row = await subscriptions.update(feeds.engine, await feeds.storage(), feeds.settings, request[USER],
                                     path_id(request, "subscription"), await json_body(request))
    feeds.scheduler.wake.set()
    return respond(models.SubscriptionOut, subscriptions.subscription_json(row))


@api
async def refresh(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    subscription_id = path_id(request, "subscription")
    await subscriptions.request_refresh(feeds.engine, request[USER], subscription_id)
    feeds.scheduler.wake.set()
    row = await subscriptions.get(feeds.engine, request[USER], subscription_id)
    return respond(models.SubscriptionOut, subscriptions.subscription_json(row), status=202)


@api
async def delete(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    await subscriptions.delete(feeds.engine, await feeds.storage(), request[USER],
                               path_id(request, "subscription"))
    return web.Response(status=204)


TAG = "subscriptions"
_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)
_ID = {"id": {"type": "integer"}}
OPERATIONS = [
    Operation("POST", "/api/subscriptions", create, "Import an external ICS URL into a read-only calendar",
              TAG, body=models.SubscriptionCreate, response=models.SubscriptionOut, status=201, errors=_ERRORS),
    Operation("GET", "/api/subscriptions", list_all, "List your subscriptions with their fetch status", TAG,
              response=models.SubscriptionList, errors=(401,)),
    Operation("GET", r"/api/subscriptions/{id:\d+}", get, "A subscription's status: last success, last "
              "error, next run, item count", TAG, response=models.SubscriptionOut, path_params=_ID,
              errors=_ERRORS),
    Operation("PATCH", r"/api/subscriptions/{id:\d+}", update, "Change the URL, name, colour or refresh "
              "interval", TAG, body=models.SubscriptionPatch, response=models.SubscriptionOut, path_params=_ID,
              errors=_ERRORS),
    Operation("DELETE", r"/api/subscriptions/{id:\d+}", delete, "Stop importing (the calendar stays)", TAG,
              status=204, path_params=_ID, errors=_ERRORS),
    Operation("POST", r"/api/subscriptions/{id:\d+}/refresh", refresh, "Fetch now", TAG, status=202,
              response=models.SubscriptionOut, path_params=_ID, errors=_ERRORS),
]
