"""Free-busy over a month by outbox POST (RFC 6638 §5): 1 user and 20 users, 10,000 events each.

    python -m bench.freebusy                              # → bench/results/freebusy.md, freebusy.json
    python -m bench.freebusy --events 2000 --users 5      # smaller
    python -m bench.freebusy --smoke                      # 200 events, 3 users, a few seconds per server
    python -m bench.freebusy --database-url URL           # on an external PostgreSQL database (empty) ...
    python -m bench.freebusy --database-url URL --filled  # ... and measured again without filling it again

Each user gets one calendar of ``--events`` events over ten years, 2016-2025 (user_items: a
long-used calendar, some 100 busy periods in the month asked about; singles of 30 minutes to 2
hours, one in fifty a weekly series of 20, some transparent, tentative or cancelled). Planerix gets every calendar in one HTTP PUT of the whole calendar (it indexes each
event, with its free-busy type, as it stores it); Xandikos by one git commit into its collection.
Then one keep-alive client POSTs a VFREEBUSY REQUEST for March 2025 to the first user's outbox,
naming 1 user and then all of them, and the median of repeated requests is reported.

Xandikos 0.4.10 answers free-busy only for the outbox owner's own addresses (every other attendee
gets 3.8 "no authority"), and runs as a single user without authentication here: it is measured
for one user, its own. Its answer for 20 users is shown as not available.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

from .dataset import Item
from .dav import Dav
from .fill import xandikos_direct_fill
from .run import log, save_results
from .servers import PlanerixServer, XandikosServer
from .workloads import Budget, _repeat, _result, rounds

PASSWORD = "bench-pass"
CAL = "fb"
MONTH = ("20250301T000000Z", "20250401T000000Z")
YEARS = 10  # the events' span, 2016-2025: a long-used calendar, about 100 busy periods a month
C = "urn:ietf:params:xml:ns:caldav"


def user_items(user: int, n: int, years: int = YEARS) -> list[Item]:
    """``n`` events of one user over ten years (2016-2025), from a seeded RNG (the same for every
    server): singles of 30 minutes to 2 hours, 2% weekly series of 20, 5% transparent, 5%
    tentative, 2% cancelled."""
    rng = random.Random(f"freebusy-{user}")
    first = dt.datetime(2026 - years, 1, 1, tzinfo=dt.timezone.utc)
    items = []
    for i in range(n):
        uid = f"fb-{user}-{i}"
        start = first + dt.timedelta(minutes=15 * rng.randrange(0, years * 365 * 24 * 4))
        end = start + dt.timedelta(minutes=rng.choice((30, 60, 60, 90, 120)))
        extra = []
        roll = rng.random()
        if roll < 0.02:
            extra.append("RRULE:FREQ=WEEKLY;COUNT=20")
        elif roll < 0.07:
            extra.append("TRANSP:TRANSPARENT")
        elif roll < 0.12:
            extra.append("STATUS:TENTATIVE")
        elif roll < 0.14:
            extra.append("STATUS:CANCELLED")
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix bench//EN", "BEGIN:VEVENT",
                 f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                 f"DTEND:{end:%Y%m%dT%H%M%SZ}", f"SUMMARY:Meeting {i}", *extra, "END:VEVENT",
                 "END:VCALENDAR"]
        items.append(Item(uid=uid, ics="\r\n".join(lines) + "\r\n", kind="weekly" if roll < 0.02 else "event"))
    return items


def whole_calendar(items: list[Item]) -> str:
    """Every item's VEVENT in one VCALENDAR (a PUT of a whole calendar)."""
    events = [it.ics.split("BEGIN:VEVENT", 1)[1].rsplit("END:VEVENT", 1)[0] for it in items]
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Planerix bench//EN\r\n"
            + "".join(f"BEGIN:VEVENT{body}END:VEVENT\r\n" for body in events) + "END:VCALENDAR\r\n")


def freebusy_request(organizer: str, attendees: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix bench//EN", "METHOD:REQUEST",
             "BEGIN:VFREEBUSY", f"UID:{uuid.uuid4()}", "DTSTAMP:20250101T000000Z",
             f"DTSTART:{MONTH[0]}", f"DTEND:{MONTH[1]}", f"ORGANIZER:{organizer}",
             *[f"ATTENDEE:{a}" for a in attendees], "END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _post(dav: Dav, outbox: str, body: str, expected: int) -> float:
    reply = dav.request("POST", outbox, body, headers={"Content-Type": "text/calendar"})
    if reply.status != 200:
        raise RuntimeError(f"POST {outbox}: HTTP {reply.status}: {reply.body[:300]!r}")
    root = ET.fromstring(reply.body)
    statuses = [r.findtext(f"{{{C}}}request-status") or "" for r in root.findall(f"{{{C}}}response")]
    ok = sum(1 for s in statuses if s.startswith("2.0"))
    busy = reply.body.count(b"FREEBUSY;FBTYPE=") + reply.body.count(b"FREEBUSY:")
    if ok != expected or busy == 0:
        raise RuntimeError(f"POST {outbox}: {ok} of {expected} recipients answered, {busy} periods")
    return reply.seconds


def _vacuum(database_url: str) -> None:
    """VACUUM (ANALYZE) of an external database after the fill: what autovacuum does in the
    embedded one (a test server may run without it), so that the plans and the index-only
    scans are those of a calendar in use, not of one imported a second ago."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("VACUUM (ANALYZE)"))
    finally:
        engine.dispose()


class _Mover:
    """``move(n)``: PUT a new time for one meeting of March 2025 in each of the first ``n`` users'
    calendars (each as its owner): each one's busy time changed, by one event. The meeting is
    written once when the mover is made, so each later PUT is an edit."""

    def __init__(self, server, names: list[str]) -> None:
        self.server, self.names, self.count = server, names, 0
        self.davs = [Dav(server.base_url, (name, PASSWORD)) for name in names]
        self(len(names))

    def __call__(self, n: int) -> None:
        self.count += 1
        start = dt.datetime(2025, 3, 1 + self.count % 28, 7, 0, tzinfo=dt.timezone.utc)
        for name, dav in zip(self.names[:n], self.davs):
            ics = "\r\n".join([
                "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix bench//EN", "BEGIN:VEVENT",
                f"UID:fb-moved-{name}", "DTSTAMP:20250101T000000Z", f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                f"DTEND:{start + dt.timedelta(hours=1):%Y%m%dT%H%M%SZ}", f"SUMMARY:Moved {self.count}",
                "END:VEVENT", "END:VCALENDAR"]) + "\r\n"
            reply = dav.put(self.server.calendar_path(name, CAL) + "moved.ics", ics)
            if reply.status not in (201, 204):
                raise RuntimeError(f"PUT moved.ics of {name}: HTTP {reply.status}")

    def close(self) -> None:
        for dav in self.davs:
            dav.close()


class FilledPlanerix(PlanerixServer):
    """Planerix on a database an earlier run with ``--database-url`` filled: its users exist."""

    def setup(self) -> None:
        self.notes = ["Planerix on an external PostgreSQL filled by an earlier run (HTTP PUT)."]


def run_planerix(workdir: Path, users: int, events: int, years: int, budget: Budget,
                 database_url: str | None = None, filled: bool = False) -> dict:
    names = [f"fb{u:02d}" for u in range(users)]
    # Every local user may see every other's free-busy (no organisations in this run).
    os.environ["PLANERIX_DIRECTORY_SCOPE"] = "everyone"
    server = (FilledPlanerix if filled else PlanerixServer)(
        workdir / "planerix", {name: PASSWORD for name in names}, database_url=database_url)
    out: dict = {"status": "ok", "fill": []}
    try:
        server.start()
        for u, name in enumerate([] if filled else names):
            dav = Dav(server.base_url, (name, PASSWORD))
            server.prepare_user(dav, name)
            reply = dav.request("PUT", server.calendar_path(name, CAL), whole_calendar(user_items(u, events, years)),
                                headers={"Content-Type": "text/calendar"})
            if reply.status not in (200, 201):
                raise RuntimeError(f"PUT calendar of {name}: HTTP {reply.status}: {reply.body[:300]!r}")
            out["fill"].append(round(reply.seconds, 2))
            dav.close()
            log(f"planerix: {name} filled with {events} events in {reply.seconds:.1f}s")
        if database_url and not filled:
            _vacuum(database_url)
        dav = Dav(server.base_url, (names[0], PASSWORD))
        outbox = f"/{names[0]}/schedule-outbox/"
        principals = [f"/{name}/" for name in names]
        move = _Mover(server, names)
        _post(dav, outbox, freebusy_request(principals[0], principals), users)  # warm

        def post(asked: int):
            body = freebusy_request(principals[0], principals[:asked])
            return lambda: _post(dav, outbox, body, asked)

        # One user and all of them round by round (the machine's load weighs on both alike):
        # asked again about unchanged calendars, then each right after an untimed edit of one
        # meeting in every asked-about calendar (no answer a process kept can be reused, each
        # calendar's busy time is brought up to date).
        out.update(rounds({"one_user": (post(1), server.cpu_seconds),
                           "all_users": (post(users), server.cpu_seconds)}, budget))
        out.update(rounds({"one_user_changed": (post(1), server.cpu_seconds, lambda: move(1)),
                           "all_users_changed": (post(users), server.cpu_seconds, lambda: move(users))}, budget))
        for key in ("one_user", "one_user_changed"):
            out[key]["users"] = 1
        for key in ("all_users", "all_users_changed"):
            out[key]["users"] = users
        move.close()
        dav.close()
    except Exception as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"planerix: FAILED: {exc}")
    finally:
        server.stop()
        os.environ.pop("PLANERIX_DIRECTORY_SCOPE", None)
    return out


class XandikosWithOutbox(XandikosServer):
    """Xandikos with ``--defaults``: its principal gets the scheduling inbox and outbox."""

    def command(self):
        cmd, cwd = super().command()
        return [*cmd, "--defaults"], cwd


def run_xandikos(workdir: Path, events: int, years: int, budget: Budget) -> dict:
    server = XandikosWithOutbox(workdir / "xandikos", {"user": PASSWORD})
    reason = server.unavailable_reason()
    if reason:
        return {"status": "skipped", "reason": reason}
    out: dict = {"status": "ok"}
    try:
        server.start()
        dav = Dav(server.base_url, ("user", PASSWORD))
        reply = dav.mkcalendar(server.calendar_path("user", CAL))
        if reply.status not in (200, 201):
            raise RuntimeError(f"MKCALENDAR: HTTP {reply.status}")
        fill = xandikos_direct_fill(server.collection_dir("user", CAL), user_items(0, events, years))
        out["fill"] = [round(fill["seconds"], 2)]
        # Its single principal gets an address to be asked about (Xandikos stores it on PROPPATCH).
        address = "mailto:user@example.org"
        patched = dav.request("PROPPATCH", "/user/", (
            "<D:propertyupdate xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'><D:set><D:prop>"
            f"<C:calendar-user-address-set><D:href>{address}</D:href></C:calendar-user-address-set>"
            "</D:prop></D:set></D:propertyupdate>"), headers={"Content-Type": "application/xml"})
        if patched.status != 207 or b"200" not in patched.body:
            raise RuntimeError(f"PROPPATCH calendar-user-address-set: HTTP {patched.status}: {patched.body[:300]!r}")
        body = freebusy_request(address, [address])
        _post(dav, "/user/outbox/", body, 1)  # warm (and Xandikos builds its index)
        out["one_user"] = _result(_repeat(lambda: _post(dav, "/user/outbox/", body, 1), budget))
        out["all_users"] = None
        dav.close()
    except Exception as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"xandikos: FAILED: {exc}")
    finally:
        server.stop()
    return out


def _ms(result) -> str:
    if not result:
        return "n/a"
    cpu = f"; CPU {result['cpu_s'] * 1000:,.1f} ms" if "cpu_s" in result else ""
    return f"{result['median_s'] * 1000:,.1f} ms ({result['runs']}×{cpu})"


def _ratios(one, every) -> str:
    """Time ratio (and CPU ratio) of the all-users answer to the one-user answer."""
    if not one or not every:
        return "n/a"
    cpu = (f" (CPU {every['cpu_s'] / one['cpu_s']:.2f}×)"
           if one.get("cpu_s") and "cpu_s" in every else "")
    return f"{every['median_s'] / one['median_s']:.2f}×{cpu}"


def report(results: dict) -> str:
    meta = results["meta"]
    lines = [f"# Free-busy by outbox POST ({meta['started']})", "", f"Command: `{meta['command']}`", "",
             meta["machine"], "",
             f"{meta['events']:,} events per user over {meta['years']} years ending with 2025; "
             "the window is March 2025; "
             f"{meta['users']} users.", "",
             "One user and all of them measured round by round: asked again about unchanged calendars "
             "(each process keeps its answers by the calendars' revisions), and right after one meeting of "
             "every asked-about calendar was moved (each calendar's busy time brought up to date, every "
             "answer merged again).", "",
             "| server | 1 user | all users | all ÷ 1 (target ≤ 1.5) | after an edit: 1 user | all users | all ÷ 1 "
             "| fill (s per user) |", "|---|---|---|---|---|---|---|---|"]
    for name, entry in results["servers"].items():
        if entry["status"] != "ok":
            lines.append(f"| {name} | {entry['status']}: {entry.get('reason')} | | | | | | |")
            continue
        one, every = entry.get("one_user"), entry.get("all_users")
        changed_one, changed_every = entry.get("one_user_changed"), entry.get("all_users_changed")
        lines.append(f"| {name} | {_ms(one)} | {_ms(every)} | {_ratios(one, every)} | {_ms(changed_one)} "
                     f"| {_ms(changed_every)} | {_ratios(changed_one, changed_every)} "
                     f"| {', '.join(str(s) for s in entry.get('fill', []))} |")
    lines += ["", "Xandikos 0.4.10 answers only for the outbox owner's own addresses, so it has no "
                  "figure for several users."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.freebusy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=YEARS, help="the events' span, ending with 2025")
    parser.add_argument("--servers", default="planerix,xandikos")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--database-url", default=None,
                        help="Planerix on this (empty) PostgreSQL database instead of an embedded one; "
                             "it is vacuumed and analysed after the fill")
    parser.add_argument("--filled", action="store_true",
                        help="the --database-url database holds an earlier run's users and events: measure "
                             "without filling again (the fill takes some 35 minutes at 10,000 events)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.filled and not args.database_url:
        parser.error("--filled needs --database-url")
    if args.smoke:
        args.users, args.events, args.years, args.reps, args.seconds = 3, 200, 1, 2, 2.0
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-freebusy-")) if args.smoke
                       else Path(__file__).resolve().parent / "results")
    results = {"meta": {"started": started.isoformat(timespec="seconds"), "users": args.users,
                        "events": args.events, "years": args.years,
                        "command": "python -m bench.freebusy " + " ".join(sys.argv[1:] if argv is None else argv),
                        "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, Python {sys.version.split()[0]}"},
               "servers": {}}
    budget = Budget(reps=args.reps, seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-freebusy-") as workdir:
        for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
            log(f"{name}: starting")
            if name == "planerix":
                results["servers"][name] = run_planerix(Path(workdir), args.users, args.events, args.years, budget,
                                                             args.database_url, args.filled)
            elif name == "xandikos":
                results["servers"][name] = run_xandikos(Path(workdir), args.events, args.years, budget)
    return save_results(out, "freebusy", results, report(results))


if __name__ == "__main__":
    main()
