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


def test_human_page_lists_every_operation(api_user_factory):
    user = api_user_factory()
    document = user.ok("GET", "/api/openapi.json")
    page = user.session.get(user.api_url + "/api/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path, methods in document["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in page.text


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
