"""Links between calendar items and goals, linked items, time invested, the agenda."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import read_json, read_query
from okr_extension.api.responses import respond
from okr_extension.feeds.runtime import FEEDS
from okr_extension.keys import ENGINE, USER
from okr_extension.links import service
from okr_extension.models import links as models
from okr_extension.transactions import transaction

TAG = "links"


async def create_link(request: web.Request) -> web.Response:
    body = await read_json(request, models.LinkCreate)
    result = await service.change_link(await request.app[FEEDS].storage(), request.app[ENGINE], request[USER],
                                       body, body.target_kind, body.target_id, body.weight,
                                       request.headers.get("If-Match"))
    return respond(models.ItemLinks, result)


async def delete_link(request: web.Request) -> web.Response:
    params = read_query(request, models.LinkParams)
    result = await service.change_link(await request.app[FEEDS].storage(), request.app[ENGINE], request[USER],
                                       params, params.target_kind, params.target_id, None,
                                       request.headers.get("If-Match"))
    return respond(models.ItemLinks, result)


def _reader(name: str, params_model, read, response_model):
    """A GET handler: validated query parameters in, one read in one transaction, the model out."""
    async def handler(request: web.Request) -> web.Response:
        params = read_query(request, params_model)
        async with transaction(request) as conn:
            result = await read(conn, request[USER], params)
        return respond(response_model, result)
    handler.__name__ = name
    return handler


list_linked_items = _reader("list_linked_items", models.TargetParams, service.linked_items, models.LinkedItems)
get_item_links = _reader("get_item_links", models.ItemParams, service.item_links, models.ItemLinks)
get_time_invested = _reader("get_time_invested", models.TimeParams, service.time_invested, models.TimeInvested)
get_agenda = _reader("get_agenda", models.RangeParams, service.agenda, models.Agenda)
get_my_tasks = _reader("get_my_tasks", models.MyTasksParams, service.assigned_tasks, models.MyTasks)


_WRITE_ERRORS = (401, 403, 404, 409, 412)
OPERATIONS = [
    Operation("POST", "/api/links", create_link,
              "Link an item to a goal: the item is rewritten with the X-PLANERIX property (If-Match honoured)",
              TAG, body=models.LinkCreate, response=models.ItemLinks, errors=_WRITE_ERRORS),
    Operation("DELETE", "/api/links", delete_link, "Unlink an item from a goal (the item is rewritten)", TAG,
              query=models.LinkParams, response=models.ItemLinks, errors=_WRITE_ERRORS),
    Operation("GET", "/api/links", list_linked_items, "The items of your calendars linked to a goal", TAG,
              query=models.TargetParams, response=models.LinkedItems),
    Operation("GET", "/api/item-links", get_item_links, "The goals an item is linked to", TAG,
              query=models.ItemParams, response=models.ItemLinks),
    Operation("GET", "/api/time-invested", get_time_invested,
              "Hours of linked events per week (recurrences expanded)", TAG,
              query=models.TimeParams, response=models.TimeInvested),
    Operation("GET", "/api/agenda", get_agenda,
              "Your events, task due dates and goal deadlines in a range, with links and conflicts", TAG,
              query=models.RangeParams, response=models.Agenda, errors=(401,)),
    Operation("GET", "/api/my-tasks", get_my_tasks,
              "Tasks assigned to you (ATTENDEE with your address) in your lists and those shared with you, "
              "with their goals", TAG, query=models.MyTasksParams, response=models.MyTasks, errors=(401,)),
]
