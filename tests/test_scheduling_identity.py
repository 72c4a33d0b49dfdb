"""Identities for scheduling: email and display name (CLI, API), every account's home (default
calendar, task list, inbox, outbox), and the principal properties clients read."""
import secrets

import pytest
import sqlalchemy as sa

from davutil import clark, event, propfind, todo
from conftest import DavUser
from storage_plugin import accounts, database, directory


def _scheduling_user(engine, base_url, prefix="sched", display_name=None) -> DavUser:
    name = f"{prefix}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    accounts.add(engine, name, password, email=f"{name.upper()}@Example.org", display_name=display_name)
    return DavUser(base_url, name, password)


def _hrefs(element) -> list[str]:
    return [h.text for h in element.findall(clark("D:href"))]


def _kinds(engine, name):
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT path, kind FROM collection WHERE parent_path = :n ORDER BY path"), {"n": name}).all())


def test_a_new_account_has_a_calendar_a_task_list_an_inbox_and_an_outbox(engine):
    name = f"home-{secrets.token_hex(4)}"
    accounts.add(engine, name, "a long password")
    assert _kinds(engine, name) == {f"{name}/personal": "normal", f"{name}/schedule-inbox": "schedule-inbox",
                                    f"{name}/schedule-outbox": "schedule-outbox", f"{name}/personal-tasks": "normal"}
    with engine.connect() as conn:
        assert directory.default_calendar_path(conn, name) == f"{name}/personal"


def test_add_with_an_address_taken_creates_nothing(engine):
    first = f"taken-{secrets.token_hex(4)}"
    accounts.add(engine, first, "a long password", email=f"{first}@example.org")
    second = f"late-{secrets.token_hex(4)}"
    with pytest.raises(accounts.AccountError, match="already belongs"):
        accounts.add(engine, second, "a long password", email=f"{first.upper()}@EXAMPLE.org")
    assert second not in accounts.names(engine)
    assert _kinds(engine, second) == {}


def test_the_upgrade_gives_existing_accounts_their_home(server_url, monkeypatch):
    """Accounts created before migration 0008 get it on upgrade; a calendar they already have
    for events and tasks is kept as the default instead of adding new ones."""
    from conftest import fresh_database

    with fresh_database(server_url) as url:
        engine = database.engine_for(url)
        every = database._migrations
        monkeypatch.setattr(database, "_migrations", lambda package: [
            m for m in every(package) if package != database.STORAGE_MIGRATIONS or m[0] < 8])
        database.upgrade(engine)
        with engine.begin() as conn:
            for name in ("old-bare", "old-busy", ".removed-20260101T000000Z-gone"):
                conn.execute(sa.text("INSERT INTO account (name, password_hash) VALUES (:n, 'x')"),
                             {"n": name})
            conn.execute(sa.text("INSERT INTO collection (path, parent_path, tag, props) VALUES "
                                 "('old-busy', '', NULL, '{}'), ('old-busy/work', 'old-busy', 'VCALENDAR', "
                                 "'{\"tag\": \"VCALENDAR\"}')"))
        monkeypatch.setattr(database, "_migrations", every)
        assert "0008_scheduling.sql" in database.upgrade(engine)
        assert set(_kinds(engine, "old-bare")) == {
            "old-bare/personal", "old-bare/personal-tasks", "old-bare/schedule-inbox", "old-bare/schedule-outbox"}
        assert set(_kinds(engine, "old-busy")) == {
            "old-busy/work", "old-busy/schedule-inbox", "old-busy/schedule-outbox"}
        assert _kinds(engine, ".removed-20260101T000000Z-gone") == {}
        with engine.connect() as conn:
            assert directory.default_calendar_path(conn, "old-busy") == "old-busy/work"
        database.dispose(url)


@pytest.fixture
def server_url(database_server):
    return database_server


# -- principal properties, as clients ask for them ----------------------------------
def test_davx5_finds_the_email_first_in_the_address_set(engine, base_url):
    bob = _scheduling_user(engine, base_url, display_name="Bob Builder")
    # DavResourceFinder.queryEmailAddress(): Depth 0 PROPFIND of calendar-user-address-set.
    response, = propfind(bob, "", "C:calendar-user-address-set")
    assert _hrefs(response.props[clark("C:calendar-user-address-set")]) == [
        f"mailto:{bob.name}@example.org", f"/{bob.name}/"]


def test_thunderbird_and_apple_get_every_scheduling_property(engine, base_url):
    bob = _scheduling_user(engine, base_url, display_name="Bob Builder")
    # Apple's startup_principal_propfind plus Thunderbird's checkPrincipalsNameSpace.
    response, = propfind(bob, "", "C:calendar-home-set", "C:calendar-user-address-set", "D:current-user-principal",
                         "D:displayname", "CS:email-address-set", "D:principal-collection-set", "D:principal-URL",
                         "C:schedule-inbox-URL", "C:schedule-outbox-URL", "C:calendar-user-type",
                         "C:schedule-default-calendar-URL", "D:supported-report-set")
    assert response.text("D:displayname") == "Bob Builder"
    assert response.text("C:calendar-user-type") == "INDIVIDUAL"
    assert _hrefs(response.props[clark("C:schedule-inbox-URL")]) == [f"/{bob.name}/schedule-inbox/"]
    assert _hrefs(response.props[clark("C:schedule-outbox-URL")]) == [f"/{bob.name}/schedule-outbox/"]
    assert _hrefs(response.props[clark("C:schedule-default-calendar-URL")]) == [f"/{bob.name}/personal/"]
    assert [e.text for e in response.props[clark("CS:email-address-set")]] == [f"{bob.name}@example.org"]
    assert _hrefs(response.props[clark("C:calendar-home-set")]) == [f"/{bob.name}/"]
    assert not response.missing, response.missing


def test_without_an_email_the_address_set_is_the_principal_and_no_email_set_is_shown(user):
    response, = propfind(user, "", "C:calendar-user-address-set", "CS:email-address-set", "D:displayname")
    assert _hrefs(response.props[clark("C:calendar-user-address-set")]) == [f"/{user.name}/"]
    assert clark("CS:email-address-set") in response.missing
    assert response.text("D:displayname") == user.name


def test_the_home_lists_the_inbox_and_outbox_as_mailboxes_not_calendars(user):
    responses = propfind(user, "", "D:resourcetype", "D:current-user-privilege-set", depth="1")
    types = {r.href: sorted(child.tag for child in r.props[clark("D:resourcetype")]) for r in responses}
    assert types[f"/{user.name}/schedule-inbox/"] == sorted([clark("D:collection"), clark("C:schedule-inbox")])
    assert types[f"/{user.name}/schedule-outbox/"] == sorted([clark("D:collection"), clark("C:schedule-outbox")])
    assert clark("C:calendar") in types[f"/{user.name}/personal/"]
    assert clark("C:calendar") in types[f"/{user.name}/personal-tasks/"]
    privileges = {r.href: {p[0].tag for p in r.props[clark("D:current-user-privilege-set")]} for r in responses}
    assert {clark("C:schedule-deliver"), clark("C:schedule-query-freebusy")} <= privileges[f"/{user.name}/schedule-inbox/"]
    assert clark("C:schedule-send") in privileges[f"/{user.name}/schedule-outbox/"]
    assert clark("C:schedule-send") not in privileges[f"/{user.name}/personal/"]


def test_the_inbox_names_the_default_calendar_and_refuses_puts_and_deletion(user):
    response, = propfind(user, "schedule-inbox/", "C:schedule-default-calendar-URL", "D:resourcetype")
    assert _hrefs(response.props[clark("C:schedule-default-calendar-URL")]) == [f"/{user.name}/personal/"]
    put = user.put("schedule-inbox/x.ics", event("inbox-put"))
    assert put.status_code == 403 and "server delivers" in put.text
    assert user.request("DELETE", "schedule-inbox/").status_code == 403
    assert user.request("DELETE", "schedule-outbox/").status_code == 403
    assert user.request("PROPFIND", "schedule-inbox/", Depth="0").status_code == 207


def test_the_default_calendar_and_task_list_take_what_they_are_for(user):
    assert user.put("personal/e.ics", event("default-event")).status_code == 201
    assert user.put("personal-tasks/t.ics", todo("default-task")).status_code == 201
    assert user.put("personal/t.ics", todo("wrong-place")).status_code == 403


# -- CLI and API ---------------------------------------------------------------
def test_cli_sets_and_updates_the_identity(engine, database_url):
    from cliutil import planerix

    db = ("--database-url", database_url)
    name, other = f"cli-{secrets.token_hex(4)}", f"cli-{secrets.token_hex(4)}"
    added = planerix("user", "add", name, "--password", "a long password", "--email", f"{name}@Example.org",
                     "--name", "Carol Cli", *db)
    assert added.returncode == 0, added.stderr
    with engine.connect() as conn:
        assert directory.addresses_of(conn, name) == [f"mailto:{name}@example.org"]
        assert directory.identity(conn, name).display_name == "Carol Cli"
        assert directory.default_calendar_path(conn, name) == f"{name}/personal"
    updated = planerix("user", "update", name, "--email", f"new-{name}@example.org", "--name", "Carol C.", *db)
    assert updated.returncode == 0 and f"user {name!r} updated" in updated.stdout, updated.stderr
    with engine.connect() as conn:
        assert directory.addresses_of(conn, name) == [f"mailto:new-{name}@example.org"]
        assert directory.identity(conn, name).display_name == "Carol C."
    taken = planerix("user", "add", other, "--password", "a long password", "--email",
                     f"NEW-{name}@example.org", *db)
    assert taken.returncode == 2 and "already belongs to another user" in taken.stderr
    assert other not in planerix("user", "list", *db).stdout.split()
    cleared = planerix("user", "update", name, "--name", "", *db)
    assert cleared.returncode == 0, cleared.stderr
    with engine.connect() as conn:
        assert directory.identity(conn, name).display_name is None
    nothing = planerix("user", "update", name, *db)
    assert nothing.returncode == 2 and "nothing to update" in nothing.stderr
    unknown = planerix("user", "update", other, "--name", "X", *db)
    assert unknown.returncode == 2 and f"no user {other!r}" in unknown.stderr


def test_api_shows_and_changes_only_the_callers_identity(api_user_factory, engine):
    bob = api_user_factory("apiid")
    shown = bob.ok("GET", "/api/account")
    assert shown == {"name": bob.name, "display_name": None, "email": None, "addresses": [f"/{bob.name}/"],
                     "calendar_user_type": "INDIVIDUAL", "default_calendar": f"/{bob.name}/personal/"}
    changed = bob.ok("PATCH", "/api/account", {"email": f"{bob.name}@Example.ORG", "display_name": "Bob B."})
    assert changed["email"] == f"{bob.name}@example.org"
    assert changed["addresses"] == [f"mailto:{bob.name}@example.org", f"/{bob.name}/"]
    assert changed["display_name"] == "Bob B."
    assert bob.ok("PATCH", "/api/account", {"display_name": None})["display_name"] is None
    carol = api_user_factory("apiid")
    taken = carol.call("PATCH", "/api/account", {"email": f"{bob.name.upper()}@example.org"})
    assert taken.status_code == 409 and "already belongs" in taken.json()["detail"]
    bad = carol.call("PATCH", "/api/account", {"email": "not an address"})
    assert bad.status_code == 422 and "not an email address" in bad.json()["detail"]
    assert carol.call("PATCH", "/api/account", {"name": "mallory"}).status_code == 422
    assert carol.call("PATCH", "/api/account", {"email": None}).status_code == 422  # replaced, never removed
    with engine.connect() as conn:
        assert directory.account_for_address(conn, f"mailto:{bob.name}@example.org") == bob.name
