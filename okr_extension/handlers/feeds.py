"""Published feeds: management by their owner, and the secret URL itself."""
from __future__ import annotations

from aiohttp import web

from okr_extension import auth
from okr_extension.api.operations import Operation
from okr_extension.api.responses import respond

from okr_extension.feeds import publishing
from okr_extension.feeds.http import api, json_body, path_id, problem
from okr_extension.feeds.runtime import FEEDS
from okr_extension.keys import USER
from okr_extension.models import feeds as models


def _with_urls(request: web.Request, row, token: str) -> dict:
    return {**publishing.feed_json(row),
            **publishing.feed_urls(f"{request.scheme}://{request.host}", request.host, token)}


@api
async def create_feed(request: web.Request) -> web.Response:
    row, token = await publishing.create_feed(request.app[FEEDS].engine, request[USER], await json_body(request))
    return respond(models.FeedWithUrl, _with_urls(request, row, token), status=201,
                   headers={"Location": f"/api/feeds/{row.id}"})


@api
async def list_feeds(request: web.Request) -> web.Response:
    rows = await publishing.list_feeds(request.app[FEEDS].engine, request[USER])
    return respond(models.FeedList, [publishing.feed_json(row) for row in rows])


@api
async def get_feed(request: web.Request) -> web.Response:
    row = await publishing.get_feed(request.app[FEEDS].engine, request[USER], path_id(request, "feed"))
    return respond(models.FeedOut, publishing.feed_json(row))


@api
async def update_feed(request: web.Request) -> web.Response:
    row = await publishing.update_feed(request.app[FEEDS].engine, request[USER], path_id(request, "feed"),
                                       await json_body(request))
    return respond(models.FeedOut, publishing.feed_json(row))


@api
async def rotate_feed(request: web.Request) -> web.Response:
    row, token = await publishing.rotate_feed(request.app[FEEDS].engine, request[USER],
                                              path_id(request, "feed"))
    return respond(models.FeedWithUrl, _with_urls(request, row, token))


@api
async def revoke_feed(request: web.Request) -> web.Response:
    feeds = request.app[FEEDS]
    feed_id = path_id(request, "feed")
    await publishing.revoke_feed(feeds.engine, request[USER], feed_id)
    feeds.publisher.cache.discard(feed_id)
    return web.Response(status=204)


async def serve_feed(request: web.Request) -> web.Response:
    """The secret feed URL: no login (see ``okr_extension.auth.PUBLIC_FEED_ROUTE``)."""
    answer = await request.app[FEEDS].publisher.serve(
        request.match_info["token"],
        if_none_match=request.headers.get("If-None-Match"),
        if_modified_since=request.headers.get("If-Modified-Since"),
        gzip_ok=publishing.accepts_gzip(request.headers.get("Accept-Encoding", "")),
        origin=f"{request.scheme}://{request.host}")
    if answer.status == 404:
        response = problem(404, "no feed at this address: the URL is wrong, or the feed was revoked "
                                "or its URL rotated")
        response.headers.update(answer.headers)
        return response
    return web.Response(status=answer.status, headers=answer.headers, body=answer.body or None)


TAG = "feeds"
_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)
_ID = {"id": {"type": "integer"}}
OPERATIONS = [
    Operation("POST", "/api/feeds", create_feed, "Publish one of your calendars at a secret URL", TAG,
              body=models.FeedCreate, response=models.FeedWithUrl, status=201, errors=_ERRORS),
    Operation("GET", "/api/feeds", list_feeds, "List your published feeds", TAG, response=models.FeedList,
              errors=(401,)),
    Operation("GET", r"/api/feeds/{id:\d+}", get_feed, "Get a feed", TAG, response=models.FeedOut,
              path_params=_ID, errors=_ERRORS),
    Operation("PATCH", r"/api/feeds/{id:\d+}", update_feed, "Change a feed's options", TAG,
              body=models.FeedPatch, response=models.FeedOut, path_params=_ID, errors=_ERRORS),
    Operation("DELETE", r"/api/feeds/{id:\d+}", revoke_feed, "Revoke a feed (its URL answers 404 at once)",
              TAG, status=204, path_params=_ID, errors=_ERRORS),
    Operation("POST", r"/api/feeds/{id:\d+}/rotate", rotate_feed, "Give a feed a new secret URL", TAG,
              response=models.FeedWithUrl, path_params=_ID, errors=_ERRORS),
    Operation("GET", auth.PUBLIC_FEED_ROUTE, serve_feed,
              "The feed itself (no login: the secret in the URL is the capability)", TAG,
              path_params={"token": {"type": "string"}}, errors=(304, 404), content_type="text/calendar"),
]
