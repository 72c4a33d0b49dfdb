"""Removing an account removes everything it owned (or archives it out of reach): a later
account of the same name starts empty, and no row anywhere still names the old one."""
from __future__ import annotations

import subprocess
import uuid

import pytest
import requests
import sqlalchemy as sa

from conftest import REPO, DavUser, new_user, planerix_command
from davutil import calendar, event, multistatus, propfind_body, vevent
from feedutil import Feed, feed_server, loop_thread, sidecar  # noqa: F401 (fixtures)
from okr_extension import account_removal
from storage_plugin import accounts

# Tables that hold a user's rows by name, by collection, by item or by organisation: the test
# data below must reach each of them (checked first), so the checks after removal mean something.
NAMED = {"account", "collection", "item_link", "link_total", "published_feed", "published_feed_token", "feed_subscription",
         "membership", "objective", "key_result", "check_in", "kpi", "kpi_measurement", "api_token",
         "login_failure"}
BY_COLLECTION = {"item", "item_occurrence", "tombstone", "published_feed", "feed_subscription"}


class Api:
    def __init__(self, sidecar, user: DavUser) -> None:
        self.url, self.session = sidecar.url, sidecar.api(user)

    def call(self, method: str, path: str, json=None):
        return self.session.request(method, self.url + path, json=json)

    def ok(self, method: str, path: str, json=None):
        response = self.call(method, path, json)
        assert response.status_code in (200, 201, 204), (method, path, response.status_code, response.text)
        return response.json() if response.content else None


def task(uid: str, kr_id: str) -> str:
    return calendar(f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260105T120000Z\r\n"
                    f"SUMMARY:Task\r\nSTATUS:COMPLETED\r\nX-PLANERIX-KEY-RESULT:{kr_id}\r\nEND:VTODO\r\n")


def goals_in(api: Api, org_id: str, tag: str) -> dict:
    objective = api.ok("POST", "/api/objectives", {"organisation_id": org_id, "title": f"{tag} objective"})
    kr = api.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": f"{tag} KR",
                                              "target_value": 1, "progress_mode": "tasks"})
    api.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 0.5})
    kpi = api.ok("POST", "/api/kpis", {"organisation_id": org_id, "name": f"{tag} KPI"})
    api.ok("POST", f"/api/kpis/{kpi['id']}/measurements",
           {"measurements": [{"measured_at": "2026-01-01T00:00:00Z", "value": 3}]})
    return {"objective": objective, "kr": kr, "kpi": kpi}


def fill_everything(sidecar, feed_server, user: DavUser, colleague: DavUser) -> dict:
    """Rows of the user in every table: calendars, items, history, indexes, goals, feeds..."""
    api, colleague_api = Api(sidecar, user), Api(sidecar, colleague)
    solo = api.ok("POST", "/api/organisations", {"name": "Solo"})
    team = colleague_api.ok("POST", "/api/organisations", {"name": "Team"})
    colleague_api.ok("POST", f"/api/organisations/{team['id']}/members", {"user": user.name, "role": "member"})
    solo_goals, team_goals = goals_in(api, solo["id"], "solo"), goals_in(api, team["id"], "team")
    user.mkcalendar("work", ("VEVENT",))
    user.mkcalendar("tasks", ("VTODO",))
    assert user.put("work/weekly.ics", event("weekly", extra="RRULE:FREQ=WEEKLY;COUNT=5\r\n")).status_code == 201
    assert user.put("work/gone.ics", event("gone")).status_code == 201
    assert user.request("DELETE", "work/gone.ics").status_code == 200  # a tombstone
    for uid, kr in (("solo-task", solo_goals["kr"]), ("team-task", team_goals["kr"])):
        assert user.put(f"tasks/{uid}.ics", task(uid, kr["id"])).status_code == 201
    token = api.ok("POST", "/api/tokens", {"name": "script"})["token"]
    feed = api.ok("POST", "/api/feeds", {"calendar": "work", "options": {}})
    api.ok("POST", "/api/feeds", {"organisation": solo["id"], "options": {}})
    feed_server.feeds["/sub.ics"] = Feed(calendar(vevent("imported")).encode())
    api.ok("POST", "/api/subscriptions", {"url": feed_server.url("/sub.ics"), "calendar": "subscribed"})
    sidecar.run_due()
    # A failed login leaves a counter under the name.
    assert requests.get(sidecar.url + "/api/tokens", auth=(user.name, "wrong-password")).status_code == 401
    return {"solo": solo, "team": team, "team_goals": team_goals, "token": token, "feed_url": feed["url"]}


def text_columns(conn) -> list[tuple[str, str]]:
    """Every text-like column of every table: a future table is searched without naming it here."""
    return [tuple(row) for row in conn.execute(sa.text(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "AND c.data_type IN ('text', 'character varying', 'jsonb', 'ARRAY')"))]


def tables_naming(engine, name: str) -> dict[str, int]:
    """Tables with rows that mention ``name`` as a whole value or a path's first segment."""
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table, column in text_columns(conn):
            count = conn.execute(sa.text(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text = :name '
                f'OR "{column}"::text LIKE :path ESCAPE \'\\\' OR "{column}"::text LIKE :quoted ESCAPE \'\\\''),
                {"name": name, "path": like_escape(name) + "/%", "quoted": '%"' + like_escape(name) + '"%'}).scalar()
            if count:
                found[table] = found.get(table, 0) + count
    return found


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tables_with_ids(engine, column: str, ids: list) -> set[str]:
    """Tables whose ``column`` (found through information_schema) still holds one of ``ids``."""
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
            "AND c.column_name = :column"), {"column": column}).scalars().all()
        return {table for table in tables if conn.execute(sa.text(
            f'SELECT count(*) FROM "{table}" WHERE "{column}"::text = ANY(:ids)'),
            {"ids": [str(i) for i in ids]}).scalar()}


def ids_of(engine, name: str) -> dict[str, list]:
    with engine.connect() as conn:
        collections = conn.execute(sa.text("SELECT id FROM collection WHERE split_part(path, '/', 1) = :n"),
                                   {"n": name}).scalars().all()
        items = conn.execute(sa.text("SELECT id FROM item WHERE collection_id = ANY(:c)"),
                             {"c": collections}).scalars().all()
    return {"collection_id": collections, "item_id": items}


def test_removal_leaves_nothing_for_a_new_account_of_the_same_name(engine, base_url, sidecar, feed_server):
    user, colleague = new_user(engine, base_url, "gone"), new_user(engine, base_url, "colleague")
    data = fill_everything(sidecar, feed_server, user, colleague)
    ids = ids_of(engine, user.name)
    assert NAMED <= set(tables_naming(engine, user.name))
    assert BY_COLLECTION <= tables_with_ids(engine, "collection_id", ids["collection_id"])
    assert {"item_occurrence", "item_link"} <= tables_with_ids(engine, "item_id", ids["item_id"])

    report = account_removal.remove(engine, user.name)
    assert report.deleted_organisations == ["Solo"] and report.handed_over == {"Team": colleague.name}

    assert tables_naming(engine, user.name) == {}
    assert tables_with_ids(engine, "collection_id", ids["collection_id"]) == set()
    assert tables_with_ids(engine, "item_id", ids["item_id"]) == set()
    assert tables_with_ids(engine, "organisation_id", [data["solo"]["id"]]) == set()

    # The same name again: an empty account.
    accounts.add(engine, user.name, "a-new-password")
    again = DavUser(base_url, user.name, "a-new-password")
    home = again.request("PROPFIND", "", propfind_body("D:displayname"), Depth="1")
    assert home.status_code == 207
    # A fresh home: only what every new account gets, none of the old calendars.
    assert sorted(r.href for r in multistatus(home.content)[0]) == sorted(
        [f"/{user.name}/"] + [f"/{user.name}/{name}/" for name in
                              ("personal", "personal-tasks", "schedule-inbox", "schedule-outbox")])
    assert again.request("GET", "work/weekly.ics").status_code == 404
    assert again.request("PROPFIND", "work/", Depth="0").status_code == 404
    api = Api(sidecar, again)
    for listing in ("/api/organisations", "/api/tokens", "/api/objectives", "/api/kpis"):
        body = api.ok("GET", listing)
        assert body["items"] == [], (listing, body)
    assert api.ok("GET", "/api/feeds") == [] and api.ok("GET", "/api/subscriptions") == []
    kr_id = data["team_goals"]["kr"]["id"]
    assert api.call("GET", f"/api/key-results/{kr_id}").status_code == 404
    assert requests.get(sidecar.url + "/api/tokens",
                        headers={"Authorization": f"Bearer {data['token']}"}).status_code == 401
    assert requests.get(data["feed_url"]).status_code == 404
    # The team keeps its goals; what the user owned there now belongs to its owner.
    kept = Api(sidecar, colleague).ok("GET", f"/api/key-results/{kr_id}")
    assert kept["owner"] == colleague.name


def test_the_last_owner_of_a_team_needs_a_successor(engine, base_url, sidecar, database_url):
    owner, member, heir = (new_user(engine, base_url, prefix) for prefix in ("owner", "member", "heir"))
    api = Api(sidecar, owner)
    team = api.ok("POST", "/api/organisations", {"name": "Crew"})
    api.ok("POST", f"/api/organisations/{team['id']}/members", {"user": member.name, "role": "member"})
    objective = api.ok("POST", "/api/objectives", {"organisation_id": team["id"], "title": "Keep"})
    owner.mkcalendar("work")

    refused = planerix("user", "remove", owner.name, "--database-url", database_url)
    assert refused.returncode == 2
    assert "last owner of 'Crew'" in refused.stderr and "--transfer-to" in refused.stderr
    assert owner.request("PROPFIND", "work/", Depth="0").status_code == 207  # nothing was removed

    unknown = planerix("user", "remove", owner.name, "--transfer-to", "nobody-" + uuid.uuid4().hex,
                       "--database-url", database_url)
    assert unknown.returncode == 2 and "--transfer-to must name another existing user" in unknown.stderr

    done = planerix("user", "remove", owner.name, "--transfer-to", heir.name, "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    assert f"now belongs to {heir.name!r}" in done.stdout
    heir_api = Api(sidecar, heir)
    members = {m["user"]: m["role"] for m in heir_api.ok("GET", f"/api/organisations/{team['id']}/members")["items"]}
    assert members == {member.name: "member", heir.name: "owner"}
    assert heir_api.ok("GET", f"/api/objectives/{objective['id']}")["owner"] == heir.name
    assert tables_naming(engine, owner.name) == {}


def test_keep_data_archives_out_of_reach_then_restore_and_purge(engine, base_url, sidecar):
    user = new_user(engine, base_url, "archived")
    api = Api(sidecar, user)
    solo = api.ok("POST", "/api/organisations", {"name": "Private"})
    objective = api.ok("POST", "/api/objectives", {"organisation_id": solo["id"], "title": "Mine"})
    token = api.ok("POST", "/api/tokens", {"name": "t"})["token"]
    user.mkcalendar("work", ("VEVENT",))
    assert user.put("work/e.ics", event("e")).status_code == 201
    feed = api.ok("POST", "/api/feeds", {"calendar": "work", "options": {}})

    report = account_removal.remove(engine, user.name, keep_data=True)
    archive = report.archived_as
    assert archive.startswith(".removed-") and archive.endswith("-" + user.name)
    # The home, "work", and the default calendar, task list, inbox and outbox.
    assert report.kept_organisations == ["Private"] and report.collections == 6
    assert archive in account_removal.archived_names(engine)
    assert tables_naming(engine, user.name) == {}
    # Out of reach: no login under the archive's name, no token, no published URL.
    assert requests.request("PROPFIND", f"{base_url}/{archive}/work/", auth=(archive, user.password),
                            headers={"Depth": "0"}).status_code == 401
    assert requests.get(sidecar.url + "/api/tokens", auth=(archive, user.password)).status_code == 401
    assert requests.get(sidecar.url + "/api/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert requests.get(feed["url"]).status_code == 404
    with pytest.raises(accounts.AccountError, match="invalid user name"):
        accounts.add(engine, archive, "any-password")

    # A new account of that name sees nothing; the archive cannot be restored over it.
    accounts.add(engine, user.name, "new-password")
    newcomer = Api(sidecar, DavUser(base_url, user.name, "new-password"))
    assert newcomer.ok("GET", "/api/organisations")["items"] == []
    assert DavUser(base_url, user.name, "new-password").request("GET", "work/e.ics").status_code == 404
    with pytest.raises(accounts.AccountError, match="exists"):
        account_removal.restore(engine, archive)
    account_removal.remove(engine, user.name)

    assert account_removal.restore(engine, archive) == user.name
    assert user.request("GET", "work/e.ics").status_code == 200
    assert api.ok("GET", f"/api/objectives/{objective['id']}")["owner"] == user.name

    again = account_removal.remove(engine, user.name, keep_data=True).archived_as
    account_removal.purge(engine, again)
    assert tables_naming(engine, again) == {} and tables_naming(engine, user.name) == {}
    assert tables_with_ids(engine, "organisation_id", [solo["id"]]) == set()


def planerix(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(planerix_command("--log-level", "warning", *args), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
