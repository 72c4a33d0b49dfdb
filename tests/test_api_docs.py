"""/api/docs: Swagger UI, vendored, on the OpenAPI document, behind the login like every route."""
import re

import requests

from okr_extension.api import docs


def _referenced(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)='(/api/docs/[^']+)'""", page)


def test_docs_page_is_swagger_ui_on_the_openapi_document(api_user_factory):
    user = api_user_factory()
    page = user.session.get(user.api_url + "/api/docs")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<div id='swagger-ui'></div>" in page.text and "href='/api/openapi.json'" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    starter = user.session.get(user.api_url + "/api/docs/docs.js")
    assert 'window.location.origin + "/api/openapi.json"' in starter.text and "validatorUrl: null" in starter.text
    document = user.ok("GET", "/api/openapi.json")
    assert document["components"]["securitySchemes"] == {  # Swagger UI's Authorize offers both
        "basic": {"type": "http", "scheme": "basic"}, "bearer": {"type": "http", "scheme": "bearer"}}


def test_page_assets_are_served_with_their_content_types(api_user_factory):
    user = api_user_factory()
    page = user.session.get(user.api_url + "/api/docs").text
    referenced = _referenced(page)
    expected = {"/api/docs/swagger-ui.css": "text/css", "/api/docs/swagger-ui-bundle.js": "text/javascript",
                "/api/docs/docs.js": "text/javascript", "/api/docs/LICENSE": "text/plain",
                "/api/docs/NOTICE": "text/plain", "/api/docs/swagger-ui-bundle.js.LICENSE.txt": "text/plain"}
    assert sorted(referenced) == sorted(expected)
    for path, content_type in expected.items():
        response = user.session.get(user.api_url + path)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"] == f"{content_type}; charset=utf-8", path
        assert response.headers["Cache-Control"] == "private, max-age=86400"
        name = path.rsplit("/", 1)[-1]
        assert response.content == docs.ASSETS[name][0].read_bytes(), path
    bundle = user.session.get(user.api_url + "/api/docs/swagger-ui-bundle.js")
    assert bundle.text.startswith("/*! For license information please see swagger-ui-bundle.js.LICENSE.txt */")
    assert docs.SWAGGER_UI_VERSION in bundle.text
    assert "Apache License" in user.session.get(user.api_url + "/api/docs/LICENSE").text
    origin = user.session.get(user.api_url + "/api/docs/README.md").text
    assert f"swagger-ui-dist@{docs.SWAGGER_UI_VERSION}" in origin


def test_only_the_listed_files_are_served(api_user_factory):
    user = api_user_factory()
    for name in ("swagger-ui.js", "..%2Fdocs.py", "%2E%2E%2F%2E%2E%2Fapp.py", "swagger-ui.css.map"):
        response = user.session.get(user.api_url + "/api/docs/" + name)
        assert response.status_code == 404, name
        assert response.headers["Content-Type"].startswith("application/problem+json"), name


def test_page_and_files_ask_for_credentials_then_take_basic_or_a_token(api_server, api_user_factory):
    user = api_user_factory()
    for path in ("/api/docs", "/api/docs/swagger-ui-bundle.js", "/api/openapi.json"):
        anonymous = requests.get(api_server.url + path)
        # The challenge makes a browser ask for the login once, then send it with every request.
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic"), path
    token = user.ok("POST", "/api/tokens", {"name": "docs"})["token"]
    with_token = requests.get(api_server.url + "/api/docs/docs.js", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status_code == 200
