"""The five handlers of a goal resource, made for each resource by ``operations``."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import path_id, read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.goals import crud
from okr_extension.keys import USER
from okr_extension.transactions import transaction


def operations(resource: crud.Resource, tag: str) -> list[Operation]:
    label, plural = resource.label, resource.path.replace("-", "_")

    async def list_(request: web.Request) -> web.Response:
        query = read_query(request, resource.query)
        async with transaction(request) as conn:
            items, next_cursor = await crud.list_rows(conn, resource, request[USER], query)
        return respond(resource.page, {"items": items, "next_cursor": next_cursor})

    async def get(request: web.Request) -> web.Response:
        async with transaction(request) as conn:
            item = await crud.get(conn, resource, request[USER], path_id(request))
        return respond(resource.out, item)

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, resource.create)
        async with transaction(request) as conn:
            item = await crud.create(conn, resource, request[USER], body)
        return respond(resource.out, item, status=201,
                       headers={"Location": f"/api/{resource.path}/{item['id']}"})

    async def update(request: web.Request) -> web.Response:
        row_id = path_id(request)
        patch = await read_json(request, resource.patch)
        async with transaction(request) as conn:
            item = await crud.update(conn, resource, request[USER], row_id, patch)
        return respond(resource.out, item)

    async def delete(request: web.Request) -> web.Response:
        async with transaction(request) as conn:
            await crud.delete(conn, resource, request[USER], path_id(request))
        return no_content()

    for handler, verb in ((list_, "list"), (get, "get"), (create, "create"), (update, "update"),
                          (delete, "delete")):
        handler.__name__ = f"{verb}_{plural}" if verb == "list" else f"{verb}_{plural.rstrip('s')}"
    collection, item = f"/api/{resource.path}", f"/api/{resource.path}/{{id}}"
    return [
        Operation("GET", collection, list_, f"List the {label}s of your organisations (filter, sort, page)",
                  tag, query=resource.query, response=resource.page, errors=(401,)),
        Operation("POST", collection, create, f"Create a {label}", tag, body=resource.create,
                  response=resource.out, status=201, errors=(401, 403)),
        Operation("GET", item, get, f"Get a {label}", tag, response=resource.out),
        Operation("PATCH", item, update, f"Change some fields of a {label}", tag, body=resource.patch,
                  response=resource.out, errors=(401, 403, 404)),
        Operation("DELETE", item, delete, f"Delete a {label}", tag, errors=(401, 403, 404), status=204),
    ]
