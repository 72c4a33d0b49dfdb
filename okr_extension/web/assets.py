"""Static files with their content's hash in the name, so browsers may keep them for a year:
a changed file gets a new URL (``static_url('app.css')`` -> ``/app/static/app.1a2b3c4d5e.css``)."""
from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
PREFIX = "/app/static/"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


class Assets:
    def __init__(self, folder: Path = STATIC) -> None:
        self.urls: dict[str, str] = {}
        self.by_url_name: dict[str, Asset] = {}
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            body = path.read_bytes()
            stem, dot, suffix = path.name.partition(".")
            fingerprinted = f"{stem}.{hashlib.sha256(body).hexdigest()[:10]}{dot}{suffix}"
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.urls[path.name] = PREFIX + fingerprinted
            self.by_url_name[fingerprinted] = Asset(body, content_type)

    def url(self, name: str) -> str:
        return self.urls[name]

    def response(self, url_name: str) -> web.Response:
        asset = self.by_url_name.get(url_name)
        if asset is None:
            raise web.HTTPNotFound()
        charset = "utf-8" if asset.content_type.startswith("text/") or asset.content_type.endswith("javascript") else None
        return web.Response(body=asset.body, content_type=asset.content_type, charset=charset,
                            headers={"Cache-Control": IMMUTABLE})
