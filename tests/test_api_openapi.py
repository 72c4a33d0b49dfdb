"""The OpenAPI document matches the routes and describes every body and answer, and schemathesis
finds no 5xx and no answer that breaks the document."""
import base64
import uuid
import itertools
from dataclasses import dataclass, replace

import pytest
import requests
import schemathesis

from storage_plugin import clock
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import checks

from conftest import ApiUser, new_user
from davutil import event
from okr_extension.app import ROUTES


def test_every_route_is_documented_and_every_documented_route_exists(api_server, api_user_factory):
    user = api_user_factory()
    document = user.ok("GET", "/api/openapi.json")
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    from okr_extension import create_app
    app = create_app("postgresql://unused@127.0.0.1:1/unused")  # the router only; nothing connects
    served = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.method != "HEAD"}
    # The dashboard's pages (HTML forms and their live JSON, signed in by session cookie) are not
    # API operations; they are exactly the dashboard's route table, all under /app.
    from okr_extension.web.handlers import ROUTES as DASHBOARD_ROUTES
    dashboard = {(method, path) for method, path in served if path == "/app" or path.startswith("/app/")}
    assert len(dashboard) == len(DASHBOARD_ROUTES)
    # So are the RSVP pages of invitees outside Planerix (HTML, the token is the capability).
    from okr_extension.rsvp.routes import PAGES as RSVP_PAGES
    rsvp_pages = {(method, path) for method, path in served if path.startswith("/rsvp/")}
    assert len(rsvp_pages) == len(RSVP_PAGES)
    assert served - dashboard - rsvp_pages == documented
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert operation["summary"] and operation["responses"], (method, path)
            for ref in _refs(operation):
                assert ref.rsplit("/", 1)[-1] in document["components"]["schemas"], ref


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _schema_of(document: dict, node: dict) -> dict:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _empty_schemas(node, where: str = ""):
    """Where a schema is ``{}`` (anything goes): under schema, items, properties, anyOf/oneOf/allOf."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{key}"
            if key in ("schema", "items", "additionalProperties") and value == {}:
                yield here
            if key == "properties":
                yield from (f"{here}/{name}" for name, prop in value.items() if prop == {})
            if key in ("anyOf", "oneOf", "allOf"):
                yield from (f"{here}/{i}" for i, member in enumerate(value) if member == {})
            yield from _empty_schemas(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _empty_schemas(value, f"{where}/{i}")


def test_every_operation_documents_its_body_and_its_answer(api_user_factory):
    user = api_user_factory()
    document = user.ok("GET", "/api/openapi.json")
    assert list(_empty_schemas(document)) == []
    for op in ROUTES:
        entry = document["paths"][op.documented_path][op.method.lower()]
        where = f"{op.method} {op.documented_path}"
        if op.body is not None:
            body = entry["requestBody"]["content"]["application/json"]["schema"]
            resolved = _schema_of(document, body)
            assert resolved.get("properties") or resolved.get("anyOf"), where
        else:
            assert "requestBody" not in entry, where
        success = entry["responses"][str(op.status)]
        if op.status == 204:
            assert "content" not in success, where
            continue
        assert success["content"], where
        for media_type, content in success["content"].items():
            schema = _schema_of(document, content["schema"])
            if media_type == "application/json":
                assert schema.get("properties") or schema.get("items"), where
            else:
                assert schema == {"type": "string"}, where


def test_feed_models_name_the_fields_the_feed_parsers_take():
    """The feed bodies are parsed by the feeds package (limits from the server settings, reasons
    per field); the documented models must list the same fields."""
    from okr_extension.feeds import options, publishing, subscriptions
    from okr_extension.models import feeds as models

    assert set(models.FeedOptions.model_fields) == set(options._FIELDS)
    assert set(models.GoalsFeedOptions.model_fields) == publishing.GOALS_FEED_OPTIONS
    assert set(models.SubscriptionCreate.model_fields) == set(subscriptions._FIELDS)
    assert set(models.SubscriptionPatch.model_fields) == set(subscriptions._FIELDS) - {"calendar"}


def test_feed_refusals_name_each_field_like_every_problem(api_user_factory):
    user = api_user_factory()
    refused = user.call("POST", "/api/subscriptions", {"url": "ftp://example.org/x.ics", "calendar": "x"})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "url" and "unsupported scheme 'ftp'" in error["message"]


# Fixed, so a failure replays: the same generated requests (the ids of the world differ per run).
SEED = 20261201
EXAMPLES = 10  # per operation: about 600 requests for the whole document


@dataclass
class World:
    """Real resources of the fuzzing user, put into generated requests so they reach the 2xx paths."""
    api: ApiUser
    ids: dict[str, str]           # documented path prefix (``/api/kpis/``) -> the id for ``{id}``
    path_values: dict[str, str]   # the other path parameters
    fields: dict[str, object]     # body and query fields naming a resource (or a usable range)

    @property
    def auth(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.api.name}:{self.api.password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def new_calendar_name(self) -> str:
        return f"fuzz-{next(_NEW_CALENDARS)}"

    def single_use(self, path: str) -> "World":
        """This world with a new resource for ``path``, for an operation that deletes or replaces it."""
        prefix = path.split("{", 1)[0]
        if prefix not in self.ids:
            return self
        api, org, fields = self.api, self.fields["organisation_id"], self.fields
        if prefix == "/api/organisations/":
            new = api.ok("POST", "/api/organisations", {"name": "Single use"})["id"]
            api.ok("POST", f"/api/organisations/{new}/members", {"user": self.path_values["user"]})
        elif prefix == "/api/objectives/":
            new = api.ok("POST", "/api/objectives", {"organisation_id": org, "title": "Single use"})["id"]
        elif prefix == "/api/key-results/":
            new = api.ok("POST", "/api/key-results", {"objective_id": fields["objective_id"], "title": "Single use",
                                                      "target_value": 1})["id"]
        elif prefix == "/api/check-ins/":
            new = api.ok("POST", "/api/check-ins", {"key_result_id": fields["key_result_id"], "value": 1})["id"]
        elif prefix == "/api/kpis/":
            new = api.ok("POST", "/api/kpis", {"organisation_id": org, "name": "Single use"})["id"]
            api.ok("POST", f"/api/kpis/{new}/measurements", {"measurements": [
                {"measured_at": self.path_values["measured_at"], "value": 1}]}, status=200)
        elif prefix == "/api/tokens/":
            new = api.ok("POST", "/api/tokens", {"name": "single use"})["id"]
        elif prefix == "/api/webhooks/":
            new = api.ok("POST", "/api/webhooks", {"organisation_id": org, "url": WEBHOOK_URL,
                                                   "kinds": ["kpi.breach"]})["id"]
        elif prefix == "/api/rules/":
            new = api.ok("POST", "/api/rules", rule_body(org, fields))["id"]
        elif prefix == "/api/feeds/":
            new = str(api.ok("POST", "/api/feeds", {"calendar": "fuzz"})["id"])
        elif prefix == "/api/resources/":
            new = api.ok("POST", "/api/resources", {"organisation_id": org, "name": "Single use",
                                                    "email": f"fuzz-{uuid.uuid4().hex}@rooms.example"})["id"]
        elif prefix == "/api/shares/":  # with a squad of its own: one share per grantee and calendar
            squad = api.ok("POST", f"/api/organisations/{org}/squads", {"name": f"single use {next(_NEW_CALENDARS)}"})
            new = str(api.ok("POST", "/api/shares", {"calendar": fields["calendar"], "squad": squad["id"],
                                                     "access": "read"})["id"])
        else:
            new = str(api.ok("POST", "/api/subscriptions", {"url": fields["url"],
                                                            "calendar": self.new_calendar_name()})["id"])
        return replace(self, ids={**self.ids, prefix: new})


_NEW_CALENDARS = itertools.count()


def rule_body(org: str, fields: dict) -> dict:
    return {"organisation_id": org, "name": "Fuzz", "trigger": {
        "type": "schedule", "dtstart": "2026-03-02T09:00:00", "tzid": "Europe/Berlin", "rrule": "FREQ=WEEKLY"},
        "action": {"type": "create_task", "calendar": fields["calendar"].replace("/fuzz/", "/fuzz-tasks/"),
                   "summary": "Fuzz {date}"}}
WEBHOOK_URL = "https://hooks.example.invalid/fuzz"


def make_world(engine, base_url: str, api_url: str) -> World:
    dav, member = new_user(engine, base_url, "fuzz"), new_user(engine, base_url, "fuzzmember")
    dav.mkcalendar("fuzz")
    assert dav.put("fuzz/meeting.ics", event("fuzz-meeting", "Planning")).status_code == 201
    api = ApiUser(api_url, dav.name, dav.password)
    org = api.ok("POST", "/api/organisations", {"name": "Fuzz"})["id"]
    api.ok("POST", f"/api/organisations/{org}/members", {"user": member.name, "role": "member"})
    objective = api.ok("POST", "/api/objectives", {"organisation_id": org, "title": "Fuzz",
                                                   "start_date": "2026-01-01", "due_date": "2027-12-31"})["id"]
    kr = api.ok("POST", "/api/key-results", {"objective_id": objective, "title": "Fuzz", "target_value": 10})["id"]
    check_in = api.ok("POST", "/api/check-ins", {"key_result_id": kr, "value": 3})["id"]
    kpi = api.ok("POST", "/api/kpis", {"organisation_id": org, "name": "Fuzz"})["id"]
    measured_at = "2026-11-30T00:00:00+00:00"
    api.ok("POST", f"/api/kpis/{kpi}/measurements", {"measurements": [{"measured_at": measured_at, "value": 1}]},
           status=200)
    token = api.ok("POST", "/api/tokens", {"name": "fuzz"})["id"]
    feed = api.ok("POST", "/api/feeds", {"calendar": "fuzz"})
    # A name that never resolves (RFC 6761): the scheduler's fetch fails at once, nothing leaves the machine.
    url = "https://feeds.example.invalid/fuzz.ics"
    subscription = api.ok("POST", "/api/subscriptions", {"url": url, "calendar": "fuzz-imported"})["id"]
    # A webhook with one delivery (owed to a name that never resolves; no worker runs here).
    webhook = api.ok("POST", "/api/webhooks", {"organisation_id": org, "url": WEBHOOK_URL, "kinds": ["kpi.breach"]})
    alarmed = api.ok("POST", "/api/kpis", {"organisation_id": org, "name": "Alarmed", "warn_threshold": 5,
                                           "alarm_threshold": 1})["id"]
    api.ok("POST", f"/api/kpis/{alarmed}/measurements", {"measurements": [
        {"measured_at": clock.now().isoformat(), "value": 0}]}, status=200)
    [delivery] = api.ok("GET", f"/api/webhooks/{webhook['id']}/deliveries")["items"]
    dav.mkcalendar("fuzz-tasks", ("VTODO",))
    rule = api.ok("POST", "/api/rules", rule_body(org, {"calendar": f"/{dav.name}/fuzz-tasks/"}))
    room = api.ok("POST", "/api/resources", {"organisation_id": org, "name": "Fuzz room",
                                             "email": f"fuzz-room-{dav.name}@rooms.example"})["id"]
    squad = api.ok("POST", f"/api/organisations/{org}/squads", {"name": "Fuzz", "members": [member.name]})
    share = api.ok("POST", "/api/shares", {"calendar": "fuzz", "user": member.name, "access": "read"})
    return World(
        api=api,
        ids={"/api/organisations/": org, "/api/objectives/": objective, "/api/key-results/": kr,
             "/api/check-ins/": check_in, "/api/kpis/": kpi, "/api/tokens/": token,
             "/api/feeds/": str(feed["id"]), "/api/subscriptions/": str(subscription),
             "/api/webhooks/": webhook["id"], "/api/rules/": rule["id"], "/api/resources/": room,
             "/api/shares/": str(share["id"])},
        path_values={"user": member.name, "measured_at": measured_at, "delivery_id": delivery["id"],
                     "squad_id": squad["id"],
                     "token": feed["url"].rsplit("/", 1)[-1].removesuffix(".ics"), "uid": "fuzz-meeting"},
        fields={"organisation_id": org, "organisation": org, "objective_id": objective, "key_result_id": kr,
                "calendar": f"/{dav.name}/fuzz/", "uid": "fuzz-meeting", "target_kind": "key_result",
                "target_id": kr, "goal": {"kind": "key_result", "id": kr}, "url": url,
                "measured_at": measured_at, "start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z",
                "goal_id": kr})


def _put_world(values, world: World) -> None:
    """Real values for the fields of a generated body or query that name a resource, at any depth."""
    if isinstance(values, list):
        for value in values:
            _put_world(value, world)
    if not isinstance(values, dict):
        return
    for name, value in values.items():
        if name in world.fields:
            values[name] = world.fields[name]
        else:
            _put_world(value, world)
    if "calendar" in values and ("uid" in values or "href" in values):  # an item: by uid or href, not both
        values["uid"] = world.fields["uid"]
        values.pop("href", None)


def with_world(case, world: World) -> None:
    """The generated request, with real ids where it names a resource."""
    prefix = case.path.split("{", 1)[0]
    if case.path_parameters:
        case.path_parameters = {name: world.ids[prefix] if name == "id" else world.path_values.get(name, value)
                                for name, value in case.path_parameters.items()}
    _put_world(case.query, world)
    _put_world(case.body, world)
    if case.method == "POST" and case.path == "/api/subscriptions" and isinstance(case.body, dict):
        case.body["calendar"] = world.new_calendar_name()  # subscribing creates the calendar


@pytest.fixture(scope="module")
def world(api_server, engine, base_url):
    return make_world(engine, base_url, api_server.url)


@pytest.fixture(scope="module")
def api_schema(api_server, world):
    print(f"\nschemathesis: hypothesis seed {SEED}, {EXAMPLES} examples per operation")
    return schemathesis.openapi.from_url(api_server.url + "/api/openapi.json", headers=world.auth)


@pytest.mark.parametrize("method, path", [(op.method, op.documented_path) for op in ROUTES],
                         ids=[f"{op.method} {op.documented_path}" for op in ROUTES])
def test_generated_requests_get_no_5xx_and_answers_match_the_document(api_schema, api_server, world,
                                                                       method, path):
    """Generated requests, about half of them naming the fuzzing user's real organisation,
    objective, key result, KPI, calendar item, token, feed and subscription. Refusals
    (401/404/422...) are fine; a 5xx, an undocumented status or a body that breaks its documented
    schema fails. A DELETE or a rotation gets its own resource, so that the others keep theirs."""
    operation = api_schema[path][method]
    destroys = method == "DELETE" or path.endswith("/rotate")
    mine = world.single_use(path) if destroys else world
    shared = {str(value) for value in world.ids.values()}

    @seed(SEED)
    @given(case=operation.as_strategy(), real=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case, real):
        if real:
            with_world(case, mine)
        elif destroys and str((case.path_parameters or {}).get("id")) in shared:
            case.path_parameters["id"] = "0"  # a generated small id hit a shared feed or subscription: no id has 0
        if case.path == "/api/events/stream" and isinstance(case.query, dict):
            case.query["max_seconds"] = 1  # a stream ends only when told to
        # Sent with plain requests: schemathesis's own transport trips over the urllib3 fork
        # that caldav's niquests installs.
        response = requests.request(**case.as_transport_kwargs(base_url=api_server.url, headers=mine.auth))
        case.validate_response(response, checks=[
            checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
            checks.response_schema_conformance])

    check()
