"""Published feeds and subscriptions to external feeds.

The request models document the bodies; the feeds' own parsers (``feeds.options``,
``feeds.publishing``, ``feeds.subscriptions``) validate them, with limits that depend on the
server's settings and reasons per field. ``tests/test_api_openapi.py`` checks that both name
the same fields."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from okr_extension.models.common import Body, Out, Patch

Component = Literal["VEVENT", "VTODO", "VJOURNAL"]
GoalKind = Literal["objective", "key_result", "kpi", "project"]
WindowDays = Annotated[int, Field(ge=0, le=36500)]
FeedName = Annotated[str, Field(min_length=1, max_length=255,
                                description="X-WR-CALNAME; default: the calendar's display name")]
RefreshMinutes = Annotated[int, Field(ge=5, le=10080, description="REFRESH-INTERVAL suggested to calendar apps")]


class GoalFilter(Body):
    kind: GoalKind
    id: str = Field(description="the goal's id (a project: its name)")


class FeedOptions(Body):
    components: list[Component] = Field(["VEVENT", "VTODO", "VJOURNAL"], min_length=1,
                                        description="component types published")
    past_days: WindowDays | None = Field(None, description="window start, days before today (UTC); null: no limit")
    future_days: WindowDays | None = Field(None, description="window end, days after today; null: no limit")
    free_busy: bool = Field(False, description="events only, with their times and nothing else")
    name: FeedName | None = None
    refresh_minutes: RefreshMinutes = 60
    goal: GoalFilter | None = Field(None, description="only items linked to this goal")


class GoalsFeedOptions(Body):
    name: FeedName | None = None
    refresh_minutes: RefreshMinutes = 60


class CalendarFeedCreate(Body):
    calendar: str = Field(description="a calendar of yours: /alice/work/ or work")
    options: FeedOptions = Field(default_factory=FeedOptions)


class GoalsFeedCreate(Body):
    organisation: uuid.UUID = Field(description="publishes this organisation's goal deadlines and KPI reviews")
    options: GoalsFeedOptions = Field(default_factory=GoalsFeedOptions)


class FeedCreate(RootModel[CalendarFeedCreate | GoalsFeedCreate]):
    """A calendar feed (give calendar) or an organisation's goals feed (give organisation)."""


class FeedPatch(Body):
    options: FeedOptions = Field(description="only the options sent change; the others stay")


class FeedOut(Out):
    id: int
    kind: Literal["calendar", "goals"]
    calendar: str | None = Field(description="the published calendar; null for a goals feed")
    organisation: uuid.UUID | None = Field(description="the organisation of a goals feed")
    options: FeedOptions
    created: datetime
    updated: datetime
    rotated: datetime | None = Field(description="when the URL was last replaced")


class FeedWithUrl(FeedOut):
    url: str = Field(description="the secret address: shown only now (on creation and rotation)")
    webcal_url: str = Field(description="the same, for calendar apps to subscribe")


class FeedList(RootModel[list[FeedOut]]):
    pass


FeedUrl = Annotated[str, Field(min_length=1, max_length=2048,
                               description="http://, https:// or webcal:// (fetched over HTTPS)")]
DisplayName = Annotated[str, Field(min_length=1, max_length=255)]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$", description="#RRGGBB or #RRGGBBAA")]
RefreshSeconds = Annotated[int, Field(ge=1, le=7 * 86400, description="seconds between fetches, from the "
                                      "server's minimum (300 by default) to a week")]


class SubscriptionCreate(Body):
    url: FeedUrl
    calendar: str = Field(description="a new calendar of yours: /alice/holidays/ or holidays")
    displayname: DisplayName | None = None
    color: Color | None = None
    refresh_interval: RefreshSeconds = 3600


class SubscriptionPatch(Patch):
    url: FeedUrl = None
    displayname: DisplayName | None = None
    color: Color | None = None
    refresh_interval: RefreshSeconds = None


class SubscriptionStatus(Out):
    state: Literal["ok", "pending", "failing", "refreshing"]
    item_count: int
    next_run: datetime | None
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    last_changes: dict[str, Any] | None = Field(description="what the last fetch changed (added, changed, "
                                                            "removed...) or its error")


class SubscriptionOut(Out):
    id: int
    url: str
    calendar: str
    displayname: str | None
    refresh_interval: int
    created: datetime | None
    status: SubscriptionStatus


class SubscriptionList(RootModel[list[SubscriptionOut]]):
    pass
