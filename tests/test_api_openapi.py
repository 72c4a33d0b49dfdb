"""The OpenAPI document matches the routes, the human page shows it, and schemathesis finds no
5xx and no answer that breaks the document."""
import base64
import secrets

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from okr_extension.app import ROUTES


def test_every_route_is_documented_and_every_documented_route_exists(api_server, api_user_factory):
    user = api_user_factory()
    document = user.ok("GET", "/api/openapi.json")
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    from okr_extension import create_app
    app = create_app("postgresql://unused@127.0.0.1:1/unused")  # the router only; nothing connects
    served = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.method != "HEAD"}
    assert served == documented
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


AUTH: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(api_server, engine):
    from storage_plugin import accounts
    name, password = f"fuzz-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    accounts.add(engine, name, password)
    AUTH["Authorization"] = "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()
    return schemathesis.openapi.from_url(api_server.url + "/api/openapi.json", headers=AUTH)


@pytest.mark.parametrize("method, path", [(op.method, op.documented_path) for op in ROUTES],
                         ids=[f"{op.method} {op.documented_path}" for op in ROUTES])
def test_generated_requests_get_no_5xx_and_answers_match_the_document(api_schema, api_server, method, path):
    """Bounded: 12 generated requests per operation. Refusals (401/404/422...) are fine; a 5xx,
    an undocumented status or a body that breaks its documented schema fails."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        # Sent with plain requests: schemathesis's own transport trips over the urllib3 fork
        # that caldav's niquests installs.
        response = requests.request(**case.as_transport_kwargs(base_url=api_server.url, headers=AUTH))
        case.validate_response(response, checks=[
            checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
            checks.response_schema_conformance])

    check()
