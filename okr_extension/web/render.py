"""Templates (Jinja2 through aiohttp-jinja2) with what every page needs: the user, the form
token, fingerprinted static URLs."""
from __future__ import annotations

import json
from datetime import date, datetime

import aiohttp_jinja2
import jinja2
from aiohttp import web

from okr_extension.web import sessions
from okr_extension.web.assets import Assets

ASSETS = web.AppKey("dashboard_assets", Assets)
POLL_SECONDS = 3  # how often an open page asks whether it changed (a 304 when not)


class Paged:
    """A page of ``limit`` rows from ``offset`` among ``total_rows()``: where the pager links go."""
    offset: int
    limit: int

    def total_rows(self) -> int:
        raise NotImplementedError

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total_rows() else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


def percent(progress: float | None) -> str:
    return "–" if progress is None else f"{round(progress * 100)}%"


def bar_value(progress: float | None) -> int:
    """A progress bar's value, 0..100 (an overshoot fills the bar)."""
    return 0 if progress is None else max(0, min(100, round(progress * 100)))


def day(value: date | datetime | None) -> str:
    if value is None:
        return "–"
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else value.isoformat()


def number(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def as_json(value) -> str:
    # Inside <script type="application/json">: "</" must not end the element.
    return json.dumps(value, default=str).replace("</", "<\\/")


def setup(app: web.Application) -> None:
    environment = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("okr_extension.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(percent=percent, bar_value=bar_value, day=day, number=number, as_json=as_json)
    app[ASSETS] = Assets()
    environment.globals["static_url"] = app[ASSETS].url


def render(request: web.Request, template: str, context: dict, status: int = 200) -> web.Response:
    session = request.get(sessions.SESSION)
    base = {"user": session.user if session else None, "csrf_token": session.csrf_token if session else "",
            "live_url": None, "poll_seconds": POLL_SECONDS}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
