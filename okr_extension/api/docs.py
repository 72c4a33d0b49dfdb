"""The API reference page: Swagger UI, vendored (see static/swagger-ui/README.md), on /api/openapi.json.

The page and its files are served like every other route, behind the login: a browser asks for
HTTP Basic credentials once and sends them with the page, its files, the document and "try it"
(a Bearer token can be entered with Swagger UI's Authorize button instead)."""
from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from okr_extension.api.problems import Problem

SWAGGER_UI_VERSION = "5.35.0"
PAGE = "/api/docs"
DOCUMENT = "/api/openapi.json"
_STATIC = Path(__file__).parent / "static"
_VENDORED = _STATIC / "swagger-ui"
# Asset name in the URL -> (file, Content-Type). Only these names are served (no path from the URL
# reaches the file system).
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDORED / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDORED / "swagger-ui.css", "text/css; charset=utf-8"),
    "docs.js": (_STATIC / "docs.js", "text/javascript; charset=utf-8"),
    "LICENSE": (_VENDORED / "LICENSE", "text/plain; charset=utf-8"),
    "NOTICE": (_VENDORED / "NOTICE", "text/plain; charset=utf-8"),
    "swagger-ui-bundle.js.LICENSE.txt": (_VENDORED / "swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8"),
    "README.md": (_VENDORED / "README.md", "text/plain; charset=utf-8"),
}
MEDIA_TYPES = tuple(sorted({content_type.split(";")[0] for _, content_type in ASSETS.values()}))
# Swagger UI renders with inline style attributes and data: images; scripts only from here.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
# Authenticated answers: browsers may keep them, shared caches may not.
ASSET_HEADERS = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}


def page(title: str) -> str:
    title = html.escape(title)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title>"
            f"<link rel='stylesheet' href='{PAGE}/swagger-ui.css'></head><body>"
            f"<noscript><p>{title}: this reference needs JavaScript. The OpenAPI document is "
            f"<a href='{DOCUMENT}'>{DOCUMENT}</a>.</p></noscript>"
            "<div id='swagger-ui'></div>"
            f"<script src='{PAGE}/swagger-ui-bundle.js'></script>"
            f"<script src='{PAGE}/docs.js'></script>"
            f"<p style='font:12px sans-serif;color:#777;margin:2em'>Swagger UI {SWAGGER_UI_VERSION}, "
            f"Apache License 2.0: <a href='{PAGE}/LICENSE'>LICENSE</a>, <a href='{PAGE}/NOTICE'>NOTICE</a>, "
            f"<a href='{PAGE}/swagger-ui-bundle.js.LICENSE.txt'>bundled libraries</a>.</p>"
            "</body></html>")


def asset(name: str) -> web.FileResponse:
    try:
        path, content_type = ASSETS[name]
    except KeyError:
        raise Problem(404, f"no such file of the API reference: {name} (known: {', '.join(ASSETS)})") from None
    return web.FileResponse(path, headers={"Content-Type": content_type, **ASSET_HEADERS})
