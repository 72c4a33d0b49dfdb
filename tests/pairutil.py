"""The same user on two servers over one database: the usual one and one running
Radicale's generic code (no fast listings or reports, no indexed filters), to check
that both answer a request byte for byte alike."""
from __future__ import annotations

import pytest
import requests

from conftest import start_caldav_server
from server import fast_listing


def start_generic_server(database_url: str):
    server = start_caldav_server(database_url)
    server.application.fast_listings = False
    server.application._storage.indexed_filters = False
    return server


class Pair:
    """The same user on the fast and on the generic server."""

    def __init__(self, user, generic_base: str) -> None:
        self.user = user
        self.generic = requests.Session()
        self.generic.auth = (user.name, user.password)
        self.generic_base = generic_base

    def both(self, method: str, path: str, body: str | None = None, **headers):
        data = body.encode() if body is not None else None
        fast = self.user.session.request(method, self.user.url(path), data=data, headers=headers)
        generic = self.generic.request(method, f"{self.generic_base}/{self.user.name}/{path}",
                                       data=data, headers=headers)
        return fast, generic

    def same(self, method: str, path: str, body: str | None = None, **headers) -> requests.Response:
        fast, generic = self.both(method, path, body, **headers)
        assert fast.status_code == generic.status_code, (path, headers, body, fast.text[:500], generic.text[:500])
        for header in ("DAV", "Content-Type"):
            assert fast.headers.get(header) == generic.headers.get(header), header
        assert fast.content == generic.content, (path, headers, body, fast.text, generic.text)
        return fast


@pytest.fixture(scope="module")
def generic_server(engine, database_url):
    server = start_generic_server(database_url)
    yield server
    server.stop()


@pytest.fixture
def fast_calls(monkeypatch):
    calls = []
    original = fast_listing._answer

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fast_listing, "_answer", counting)
    return calls


@pytest.fixture
def pair(engine, user, generic_server):
    return Pair(user, f"http://127.0.0.1:{generic_server.port}")
