"""List, get, create, update and delete for any goal resource, with organisation rights.

A resource says what differs (table, shapes, parent, filters, checks, computed fields);
this module does the rest once. Every function takes a connection, so tests and other
modules can call it inside their own transaction.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.models.common import Body, Out, Page, Patch, Query


@dataclass(frozen=True)
class Parent:
    """Where a new row's organisation comes from when it is not in the body."""
    field: str        # body field holding the parent id, e.g. "objective_id"
    table: sa.Table   # the parent's table (has organisation_id and an owner column)
    owner_column: str
    label: str        # "objective"


@dataclass(frozen=True)
class Actor:
    """Who writes, and their role in the row's organisation."""
    user: str
    role: str


Check = Callable[[AsyncConnection, dict, "Row | None", Actor], Awaitable[None]]
Present = Callable[[AsyncConnection, list[Row]], Awaitable[list[dict]]]
Columns = Callable[[dict], dict]
AfterWrite = Callable[[AsyncConnection, Row], Awaitable[None]]


async def _no_check(conn, merged, existing, actor) -> None:
    return None


async def _as_dicts(conn, rows) -> list[dict]:
    return [dict(row._mapping) for row in rows]


async def _nothing_after(conn, row) -> None:
    return None


def _same_columns(values: dict) -> dict:
    return values


@dataclass(frozen=True)
class Resource:
    label: str                       # "objective", for messages
    path: str                        # "objectives", the URL segment
    table: sa.Table
    create: type[Body]
    patch: type[Patch]
    out: type[Out]
    page: type[Page]
    query: type[Query]
    owner_column: str = "owner"      # who "owns" a row, for members' write rights
    owner_from_body: bool = True     # False: the owner is always the author (check-ins)
    parent: Parent | None = None
    sort_keys: dict[str, sa.ColumnElement] = field(default_factory=dict)
    check: Check = _no_check         # rules needing the database or the merged row → Problem 422;
                                     # it may also derive columns of the merged row (they are written)
    columns: Columns = _same_columns  # body fields → table columns, where the API's shape differs
    present: Present = _as_dicts     # rows → response dicts with computed fields
    after_write: AfterWrite = _nothing_after
    after_delete: AfterWrite = _nothing_after

    def column(self, name: str) -> sa.Column:
        return self.table.c[name]


# Rows without the date sort after every date (stored days end at 9998-12-31). Not date.max:
# asyncpg sends that as 'infinity', so a cursor ending on an undated row would skip the rest.
UNDATED = date(9999, 1, 1)


def undated_last(column: sa.Column) -> sa.ColumnElement:
    """A date column as a sort key that puts missing dates last (first when descending)."""
    return sa.func.coalesce(column, sa.literal(UNDATED, sa.Date))


def invalid(field_name: str, message: str) -> Problem:
    return Problem(422, f"invalid body: {field_name}: {message}",
                   errors=[{"field": field_name, "message": message}])


def _filters(resource: Resource, query: Query) -> list[sa.ColumnElement]:
    clauses = []
    for name, value in query.model_dump(exclude={"cursor", "limit", "sort"}).items():
        if value is None:
            continue
        if name == "tag":
            clauses.append(sa.literal(value) == sa.any_(resource.column("tags")))
        else:
            clauses.append(resource.column(name) == value)
    return clauses


async def list_rows(conn: AsyncConnection, resource: Resource, user: str,
                    query: Query) -> tuple[list[dict], str | None]:
    sort = query.sort
    descending = sort.startswith("-")
    key = resource.sort_keys.get(sort.lstrip("-"), resource.column(sort.lstrip("-")))
    table = resource.table
    select = sa.select(table, key.label("_sort_key")).where(
        table.c.organisation_id.in_(access.organisations_of(user)), *_filters(resource, query))
    select = pagination.page_query(select, key, table.c.id, sort, descending, query.cursor, query.limit)
    rows = (await conn.execute(select)).all()
    rows, next_cursor = pagination.split_page(rows, query.limit, sort, lambda row: row._sort_key)
    return await resource.present(conn, rows), next_cursor


async def _load(conn: AsyncConnection, resource: Resource, user: str, row_id: uuid.UUID,
                for_update: bool = False) -> tuple[Row, str]:
    select = sa.select(resource.table).where(resource.table.c.id == row_id)
    if for_update:
        select = select.with_for_update()
    row = (await conn.execute(select)).first()
    role = await access.role_of(conn, user, row.organisation_id) if row else None
    if role is None:
        raise Problem(404, f"no such {resource.label}: {row_id}")
    return row, role


async def get(conn: AsyncConnection, resource: Resource, user: str, row_id: uuid.UUID) -> dict:
    row, _ = await _load(conn, resource, user, row_id)
    return (await resource.present(conn, [row]))[0]


async def _parent_of_new(conn: AsyncConnection, resource: Resource, user: str, body: dict) -> tuple[uuid.UUID, str]:
    """The organisation of a new row and the creator's role there, with the right to create it."""
    parent = resource.parent
    if parent is None:
        organisation_id = body["organisation_id"]
        role = await access.role_of(conn, user, organisation_id)
        if role is None:
            raise invalid("organisation_id", f"no organisation {organisation_id} of yours")
        access.require_role(role, "member", resource.label)
        return organisation_id, role
    parent_row = (await conn.execute(
        sa.select(parent.table).where(parent.table.c.id == body[parent.field]))).first()
    role = await access.role_of(conn, user, parent_row.organisation_id) if parent_row else None
    if role is None:
        raise invalid(parent.field, f"no {parent.label} {body[parent.field]} in your organisations")
    access.require_write(role, user, parent_row._mapping[parent.owner_column], parent.label)
    return parent_row.organisation_id, role


async def create(conn: AsyncConnection, resource: Resource, user: str, body: Body) -> dict:
    values = resource.columns(body.model_dump())
    organisation_id, role = await _parent_of_new(conn, resource, user, values)
    values["organisation_id"] = organisation_id
    if resource.owner_from_body:
        values[resource.owner_column] = await access.require_assignable(
            conn, role, user, values.get(resource.owner_column), organisation_id)
    else:
        values[resource.owner_column] = user
    await resource.check(conn, values, None, Actor(user, role))
    row = (await conn.execute(sa.insert(resource.table).values(values).returning(resource.table))).one()
    await resource.after_write(conn, row)
    return (await resource.present(conn, [row]))[0]


async def update(conn: AsyncConnection, resource: Resource, user: str, row_id: uuid.UUID,
                 patch: Patch) -> dict:
    row, role = await _load(conn, resource, user, row_id, for_update=True)
    owner = row._mapping[resource.owner_column]
    access.require_write(role, user, owner, resource.label)
    changes = resource.columns(patch.changes())
    if resource.owner_column in changes:
        changes[resource.owner_column] = await access.require_assignable(
            conn, role, user, changes[resource.owner_column], row.organisation_id)
    merged = {**row._mapping, **changes}
    await resource.check(conn, merged, row, Actor(user, role))
    changes = {name: value for name, value in merged.items() if name in changes or value != row._mapping[name]}
    if changes:
        if "updated" in resource.table.c:
            changes["updated"] = sa.func.now()
        row = (await conn.execute(sa.update(resource.table).where(resource.table.c.id == row_id)
                                  .values(changes).returning(resource.table))).one()
        await resource.after_write(conn, row)
    return (await resource.present(conn, [row]))[0]


async def delete(conn: AsyncConnection, resource: Resource, user: str, row_id: uuid.UUID) -> None:
    row, role = await _load(conn, resource, user, row_id, for_update=True)
    access.require_write(role, user, row._mapping[resource.owner_column], resource.label)
    await conn.execute(sa.delete(resource.table).where(resource.table.c.id == row_id))
    await resource.after_delete(conn, row)

