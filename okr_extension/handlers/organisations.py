"""Organisations and memberships."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import path_id, path_name, read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.goals import organisations as store
from okr_extension.keys import USER
from okr_extension.models import organisations as models
from okr_extension.models.common import Query
from okr_extension.transactions import transaction

TAG = "organisations"
USER_PARAM = {"user": {"type": "string", "minLength": 1}}


async def list_organisations(request: web.Request) -> web.Response:
    query = read_query(request, Query)
    async with transaction(request) as conn:
        rows, next_cursor = await store.list_mine(conn, request[USER], query.cursor, query.limit)
    return respond(models.OrganisationPage, {"items": rows, "next_cursor": next_cursor})


async def create_organisation(request: web.Request) -> web.Response:
    body = await read_json(request, models.OrganisationCreate)
    async with transaction(request) as conn:
        row = await store.create(conn, request[USER], body)
    return respond(models.OrganisationOut, row, status=201, headers={"Location": f"/api/organisations/{row.id}"})


async def get_organisation(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        row = await store.get(conn, request[USER], path_id(request))
    return respond(models.OrganisationOut, row)


async def update_organisation(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    patch = await read_json(request, models.OrganisationPatch)
    async with transaction(request) as conn:
        row = await store.update(conn, request[USER], organisation_id, patch)
    return respond(models.OrganisationOut, row)


async def delete_organisation(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await store.delete(conn, request[USER], path_id(request))
    return no_content()


async def list_members(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        rows = await store.members(conn, request[USER], path_id(request))
    return respond(models.MemberPage, {"items": rows, "next_cursor": None})


async def add_member(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    body = await read_json(request, models.MemberCreate)
    async with transaction(request) as conn:
        row = await store.add_member(conn, request[USER], organisation_id, body)
    return respond(models.MemberOut, row, status=201)


async def update_member(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    patch = await read_json(request, models.MemberPatch)
    async with transaction(request) as conn:
        row = await store.change_member(conn, request[USER], organisation_id, path_name(request, "user"), patch)
    return respond(models.MemberOut, row)


async def remove_member(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await store.remove_member(conn, request[USER], path_id(request), path_name(request, "user"))
    return no_content()


ORG, MEMBERS, MEMBER = "/api/organisations", "/api/organisations/{id}/members", "/api/organisations/{id}/members/{user}"
OPERATIONS = [
    Operation("GET", ORG, list_organisations, "List your organisations, with your role", TAG,
              query=Query, response=models.OrganisationPage, errors=(401,)),
    Operation("POST", ORG, create_organisation, "Create an organisation (you become its owner)", TAG,
              body=models.OrganisationCreate, response=models.OrganisationOut, status=201, errors=(401,)),
    Operation("GET", ORG + "/{id}", get_organisation, "Get an organisation", TAG, response=models.OrganisationOut),
    Operation("PATCH", ORG + "/{id}", update_organisation, "Rename or set status thresholds (admins)", TAG,
              body=models.OrganisationPatch, response=models.OrganisationOut, errors=(401, 403, 404),
              token_scope="admin"),
    Operation("DELETE", ORG + "/{id}", delete_organisation, "Delete an organisation and all its goals (owners)",
              TAG, status=204, errors=(401, 403, 404), token_scope="admin"),
    Operation("GET", MEMBERS, list_members, "List the members and their roles", TAG, response=models.MemberPage),
    Operation("POST", MEMBERS, add_member, "Add a user with a role (admins; owners for owners)", TAG,
              body=models.MemberCreate, response=models.MemberOut, status=201, errors=(401, 403, 404, 409),
              token_scope="admin"),
    Operation("PATCH", MEMBER, update_member, "Change a member's role", TAG, body=models.MemberPatch,
              response=models.MemberOut, path_params=USER_PARAM, errors=(401, 403, 404, 409), token_scope="admin"),
    Operation("DELETE", MEMBER, remove_member, "Remove a member (or leave yourself)", TAG, status=204,
              path_params=USER_PARAM, errors=(401, 403, 404, 409), token_scope="admin"),
]
