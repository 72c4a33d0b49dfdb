"""What the HTTP layer and the storage plugin tell each other about one request.

Radicale's storage API has no room for a sync ``DAV:limit`` or for a CalDAV
precondition raised by storage, so ``server.caldav_app`` opens a state per
request and the plugin reads and fills it. Under plain Radicale no state is
open: the plugin then applies no limit and storage errors stay plain 400s.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


@dataclass
class Rejection:
    status: int
    # Human tag as Radicale writes it, e.g. "C:supported-calendar-component"; None for a plain error.
    precondition: str | None
    reason: str


@dataclass
class RequestState:
    sync_limit: int | None = None
    # False when a PROPFIND asks for no calendar data (etags only): texts stay in the database.
    needs_item_text: bool = True
    # A PROPFIND asking for property names (DAV:propname): principals list the ones added here too.
    propname: bool = False
    sync_truncated: bool = False
    # Where a 507 for a truncated sync points (the requested collection).
    request_href: str = "/"
    rejection: Rejection | None = None
    # Paths of read-only (subscribed) calendars met while answering: their
    # DAV:current-user-privilege-set loses the write privileges.
    read_only_paths: set[str] = field(default_factory=set)
    # The URL prefix the server is mounted under (Radicale's base_prefix), for hrefs in answers.
    base_prefix: str = ""
    # Who asks (set with base_prefix): whose delegations an answer may show (server.scheduling.principal).
    user: str = ""
    # Implicit scheduling is on for this request (server.caldav_app): writes queue iTIP jobs.
    scheduling: bool = False
    # Jobs queued by this request's write, delivered after its commit: their keys (id, recipient
    # account) of storage_plugin.scheduling.
    schedule_jobs: list[tuple[int, str]] = field(default_factory=list)
    # The stored text differs from the client's (SCHEDULE-STATUS added...): no ETag in the answer.
    rewritten: bool = False
    # The Schedule-Tag of the item written (RFC 6638 §3.2.10), for the response header.
    schedule_tag: str | None = None
    # If-Schedule-Tag-Match of the request, checked by storage under the owner's lock.
    if_schedule_tag_match: str | None = None
    # The client accepts gzip (server.caldav_app compresses the answer, not Radicale).
    gzip: bool = False
    # (key, VEVENT count) of a REPORT answer to keep once compressed (server.answer_cache).
    answer_to_keep: tuple | None = None
    # Seconds until a throttled login may be tried again (storage_plugin.logins): the 401 becomes 429.
    login_retry_after: int | None = None
    # Collection rows by path read ahead with the login (the account's home, None when it has
    # none): the first ``Storage.discover`` of that path takes it instead of asking the database.
    read_ahead: dict[str, object] = field(default_factory=dict)
    # What the login statement also looks up for a read (``Lookup``): the request's path, so that
    # a GET of an item or a Depth-0 PROPFIND costs the one round trip of the login.
    lookup: "Lookup | None" = None
    # Its answer, by (path, with its member): rows as JSON objects (``Storage._find`` takes it once).
    looked_up: dict = field(default_factory=dict)
    # Radicale permissions of (user, path) the rights plugin answered during this request.
    rights_memo: dict = field(default_factory=dict)
    # Collection rows read ahead (the calendars shared with the user, listed in their home), by
    # path: ``Storage.discover`` answers them without a query of its own.
    known_collections: dict = field(default_factory=dict)
    # Schedule-Tags of items looked up by path in the request's read (storage_plugin.storage).
    schedule_tags: dict = field(default_factory=dict)
    # Shared calendars met while answering, by mount path (/bob/alice~team/): (owner, access),
    # for DAV:owner in answers and the reasons of refusals (server.sharing).
    shares_seen: dict = field(default_factory=dict)


_current: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar(
    "planerix_request_state", default=None)


def current() -> RequestState | None:
    return _current.get()


def note_read_only(path: str) -> None:
    state = current()
    if state is not None:
        state.read_only_paths.add(path)


def note_share(mount: str, owner: str, access: str) -> None:
    state = current()
    if state is not None:
        state.shares_seen[mount] = (owner, access)


def note_throttled(retry_after: int) -> None:
    state = current()
    if state is not None:
        state.login_retry_after = retry_after


def note_read_ahead(path: str, row) -> None:
    state = current()
    if state is not None:
        state.read_ahead[path] = row


def note_schedule_tag(path: str, tag) -> None:
    """The Schedule-Tag (or None) of the item at ``path``, read in the request's snapshot."""
    state = current()
    if state is not None:
        state.schedule_tags[path] = tag


def take_read_ahead(path: str):
    """(True, the row read ahead for ``path``) once, else (False, None)."""
    state = current()
    if state is None or path not in state.read_ahead:
        return False, None
    return True, state.read_ahead.pop(path)


@dataclass(frozen=True)
class Lookup:
    """``Storage._find``'s query of one path, to be answered along with the login."""
    sane_path: str
    with_member: bool
    params: dict


def note_looked_up(lookup: Lookup, rows: list[dict]) -> None:
    state = current()
    if state is not None:
        state.looked_up[lookup.sane_path, lookup.with_member] = rows


def take_looked_up(sane_path: str, with_member: bool):
    """The rows looked up ahead for ``sane_path`` once, else None."""
    state = current()
    if state is None or not state.looked_up:
        return None
    return state.looked_up.pop((sane_path, with_member), None)


def forget_looked_up() -> None:
    """A write is coming: what was looked up before it may no longer be so."""
    state = current()
    if state is not None:
        state.looked_up.clear()


def begin() -> contextvars.Token:
    return _current.set(RequestState())


def end(token: contextvars.Token) -> None:
    _current.reset(token)


class StorageRejection(ValueError):
    """A write refused for a reason a client can act on (mapped to a precondition)."""

    def __init__(self, status: int, precondition: str | None, reason: str) -> None:
        super().__init__(reason)
        state = current()
        if state is not None:
            state.rejection = Rejection(status, precondition, reason)
