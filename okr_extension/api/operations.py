"""The route table entry: one declaration gives aiohttp its route and OpenAPI its operation."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UUID_SCHEMA = {"type": "string", "format": "uuid"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None   # None: any JSON (or no body with 204)
    status: int = 200
    path_params: dict[str, dict] = field(default_factory=dict)  # name -> schema; default UUID
    errors: tuple[int, ...] = (401, 404)
    content_type: str | tuple[str, ...] = "application/json"  # of the response; several for files
    public: bool = False                      # served without credentials (auth.PUBLIC_ROUTES)
    token_scope: str | None = None            # a token's scope it needs; None: by method (token_scopes)

    @property
    def needed_token_scope(self) -> str:
        """A token's scope this operation needs (okr_extension.token_scopes): declared, or by method."""
        return self.token_scope or ("read" if self.method in ("GET", "HEAD") else "write")

    def route(self) -> web.RouteDef:
        return web.route(self.method, self.path, self.handler)

    @property
    def documented_path(self) -> str:
        """The path without aiohttp's regular expressions: ``{id:\\d+}`` → ``{id}``."""
        return re.sub(r"{(\w+):[^}]+}", r"{\1}", self.path)

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.content_type,) if isinstance(self.content_type, str) else self.content_type

    def parameters(self) -> dict[str, dict]:
        return {name: self.path_params.get(name, UUID_SCHEMA)
                for name in re.findall(r"{(\w+)}", self.documented_path)}
