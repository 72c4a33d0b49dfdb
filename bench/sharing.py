"""Shared and delegated calendars cost what own calendars cost (issue #11): ratios shared ÷ own.

    python -m bench.sharing                 # 50 calendars, 10,000 items → bench/results/sharing.md, sharing.json
    python -m bench.sharing --smoke         # 3 calendars, 120 items, a few seconds

Planerix alone (the peers have no sharing), one server (``planerix serve``, embedded PostgreSQL):

* home listing: a Depth-1 PROPFIND of a calendar home as DAVx5 sends it (resourcetype,
  displayname, owner, colour, privileges, component set...), of a user with ``--calendars`` own
  calendars and of a user with as many calendars shared with them (by ``POST /api/shares``);
* week query: the one-week calendar-query (getetag, ~100 hrefs, bench.workloads.week_query) on a
  calendar of ``--items`` items (bench.dataset, filled by HTTP PUT), by its owner at its own path
  and by a sharee (read access) at the mount in their home;
* proxy listing: the same Depth-1 PROPFIND of the owner's home (``--calendars`` calendars) by the
  owner and by their write proxy (``POST /api/delegations``), as DAVx5 lists a delegator's home.

Target: each ratio ≤ 1.3.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import requests

from . import dataset
from .dav import Dav
from .fill import http_fill
from .run import log, save_results
from .servers import PlanerixServer
from .dav import calendar_query
from .workloads import Budget, _check, _repeat, _result

PASSWORD = "bench-pass"
TARGET = 1.3
# DAVx5's home-set refresh (dav4jvm property names).
DAVX5_HOME = (
    '<?xml version="1.0" encoding="UTF-8"?><propfind xmlns="DAV:" xmlns:CAL="urn:ietf:params:xml:ns:caldav"'
    ' xmlns:CS="http://calendarserver.org/ns/" xmlns:ICAL="http://apple.com/ns/ical/"><prop>'
    "<resourcetype/><displayname/><owner/><ICAL:calendar-color/><CAL:calendar-description/>"
    "<CAL:calendar-timezone/><current-user-privilege-set/><CAL:supported-calendar-component-set/>"
    "<CS:source/></prop></propfind>")


def home_listing(dav: Dav, home: str, expected: int):
    """A timed Depth-1 PROPFIND of ``home``, checked to list at least ``expected`` calendars."""
    def run() -> float:
        reply = _check(dav.propfind(home, DAVX5_HOME, "1"), f"PROPFIND {home}")
        found = len(reply.multistatus().ok_hrefs())
        if found < expected:
            raise RuntimeError(f"PROPFIND {home}: {found} responses, expected at least {expected}")
        return reply.seconds
    return run


def week(dav: Dav, path: str, found: list):
    """A timed week calendar-query of ``path``, the number of hrefs appended to ``found``."""
    body = calendar_query(*dataset.week_range())

    def run() -> float:
        reply = _check(dav.report(path, body, depth="1"), f"calendar-query {path}")
        found.append(len(reply.multistatus().ok_hrefs()))
        return reply.seconds
    return run


def interleaved(own, shared, budget: Budget) -> tuple[dict, dict]:
    """Samples of the two alternately (own, shared, own, ...), so that a machine's load changing
    during the run weighs on both alike; after one warm-up of each."""
    own(), shared()
    pairs = _repeat(lambda: (own(), shared()), budget)
    return _result([a for a, _ in pairs]), _result([b for _, b in pairs])


def _share(api: requests.Session, api_url: str, calendar: str, user: str) -> None:
    reply = api.post(api_url + "/api/shares", json={"calendar": calendar, "user": user, "access": "read"},
                     timeout=60)
    if reply.status_code != 201:
        raise RuntimeError(f"POST /api/shares {calendar}: HTTP {reply.status_code}: {reply.text[:300]}")


def _delegate(api: requests.Session, api_url: str, user: str) -> None:
    reply = api.post(api_url + "/api/delegations", json={"delegate": user, "access": "write"}, timeout=60)
    if reply.status_code != 201:
        raise RuntimeError(f"POST /api/delegations {user}: HTTP {reply.status_code}: {reply.text[:300]}")


def run(workdir: Path, calendars: int, items: int, budget: Budget) -> dict:
    users = {"owner": PASSWORD, "sharee": PASSWORD, "solo": PASSWORD, "proxy": PASSWORD}
    server = PlanerixServer(workdir / "planerix", users)
    out: dict = {"status": "ok"}
    try:
        server.start()
        davs = {name: Dav(server.base_url, (name, PASSWORD)) for name in users}
        for name, dav in davs.items():
            server.prepare_user(dav, name)
        api = requests.Session()
        api.auth = ("owner", PASSWORD)
        api_url = f"http://127.0.0.1:{server.api_port}"
        for n in range(calendars):
            for name in ("owner", "solo"):
                _check(davs[name].mkcalendar(f"/{name}/cal-{n:02d}/"), "MKCALENDAR", ok=(201,))
            _share(api, api_url, f"/owner/cal-{n:02d}/", "sharee")
        log(f"planerix: {calendars} own calendars for solo, {calendars} shared with sharee")
        out["home_own"], out["home_shared"] = interleaved(home_listing(davs["solo"], "/solo/", calendars),
                                                          home_listing(davs["sharee"], "/sharee/", calendars), budget)
        _delegate(api, api_url, "proxy")
        out["proxy_own"], out["proxy_shared"] = interleaved(home_listing(davs["owner"], "/owner/", calendars),
                                                            home_listing(davs["proxy"], "/owner/", calendars), budget)
        _check(davs["owner"].mkcalendar("/owner/big/"), "MKCALENDAR", ok=(201,))
        filled = http_fill(server.base_url, ("owner", PASSWORD), "/owner/big/", dataset.calendar_items(0, items),
                           workers=8)
        if filled["errors"]:
            raise RuntimeError(f"filling /owner/big/: {filled}")
        log(f"planerix: /owner/big/ filled with {items} items in {filled['seconds']:.1f}s")
        _share(api, api_url, "/owner/big/", "sharee")
        own_found, shared_found = [], []
        out["week_own"], out["week_shared"] = interleaved(week(davs["owner"], "/owner/big/", own_found),
                                                          week(davs["sharee"], "/sharee/owner~big/", shared_found),
                                                          budget)
        if set(own_found) != set(shared_found) or len(set(own_found)) != 1:
            raise RuntimeError(f"the week query found {set(own_found)} items as owner, "
                               f"{set(shared_found)} as sharee")
        out["week_own"]["hrefs"] = out["week_shared"]["hrefs"] = own_found[0]
        for dav in davs.values():
            dav.close()
    except Exception as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"planerix: FAILED: {exc}")
    finally:
        server.stop()
    return out


def ratios(results: dict) -> dict:
    found = results["planerix"]
    if found.get("status") != "ok":
        return {}
    return {key: found[f"{key}_shared"]["median_s"] / found[f"{key}_own"]["median_s"]
            for key in ("home", "week", "proxy")}


def report(results: dict) -> str:
    meta, found = results["meta"], results["planerix"]
    lines = [f"# Sharing: shared ÷ own ({meta['machine']})", "", f"`{meta['command']}`", ""]
    if found.get("status") != "ok":
        return "\n".join(lines + [f"failed: {found.get('reason')}", ""])
    found_ratios = ratios(results)
    lines += ["| workload | own (ms) | shared (ms) | ratio | target |", "|---|---|---|---|---|"]
    for key, label in (("home", f"Depth-1 PROPFIND of a home, {meta['calendars']} calendars (DAVx5 body)"),
                       ("week", f"week calendar-query, {meta['items']:,} items (~100 hrefs)"),
                       ("proxy", f"the owner's home ({meta['calendars']} calendars) listed by a write proxy "
                                 "(\"shared\") and by the owner")):
        own, shared, ratio = found[f"{key}_own"]["median_s"], found[f"{key}_shared"]["median_s"], found_ratios[key]
        verdict = "pass" if ratio <= TARGET else "miss"
        lines.append(f"| {label} | {own * 1000:.1f} | {shared * 1000:.1f} | {ratio:.2f}× | ≤ {TARGET}× {verdict} |")
    return "\n".join(lines + ["", "Medians of requests alternating own and shared (one keep-alive connection per "
                              "user); shares made with `POST /api/shares` (read access), the delegation with "
                              "`POST /api/delegations` (write access).", ""])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.sharing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=50)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.calendars, args.items, args.reps, args.seconds = 3, 120, 2, 2.0
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-sharing-")) if args.smoke
                       else Path(__file__).resolve().parent / "results")
    results = {"meta": {"calendars": args.calendars, "items": args.items,
                        "command": "python -m bench.sharing " + " ".join(sys.argv[1:] if argv is None else argv),
                        "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, Python {sys.version.split()[0]}"}}
    with tempfile.TemporaryDirectory(prefix="bench-sharing-") as workdir:
        results["planerix"] = run(Path(workdir), args.calendars, args.items,
                                  Budget(reps=args.reps, seconds=args.seconds))
    results["ratios"] = ratios(results)
    return save_results(out, "sharing", results, report(results))


if __name__ == "__main__":
    main()
