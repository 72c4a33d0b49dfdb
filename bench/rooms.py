"""Booking a room: the latency of an invitation to a room that already has 100 bookings and one
that has 10,000 (it should not grow: the overlap test is one index probe of the database's
exclusion constraint, not a scan of the room's bookings).

    python -m bench.rooms                          # → bench/results/rooms.md, rooms.json
    python -m bench.rooms --sizes 100,10000 --reps 30
    python -m bench.rooms --smoke                  # 20 and 200 bookings, a few requests each

Planerix alone (stock Radicale and Xandikos have no rooms), on its embedded PostgreSQL in a
temporary directory. An organisation admin creates one room per size through /api/resources;
the bookings are made as clients make them, by CalDAV PUTs of invitations to the room (a series
books an occurrence per instance: series of up to 1,000 half-hourly instances, the room answering
each by itself). Then the organizer PUTs one new invitation at a time, to each room in turn,
and the time until the PUT returns is measured: by then the room has booked it and its REPLY has updated the organizer's
copy (delivery runs in the request). Two kinds: a free time (accepted) and a time that overlaps
an existing booking (declined). Each measured event is deleted again (untimed), so the room keeps
its size.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .dav import Dav
from .growth import planerix_with_user
from .run import log, save_results
from .workloads import Budget, _repeat, _result

USER = "booker"
EMAIL = f"{USER}@bench.example"
SERIES_LENGTH = 1000          # the room books at most this many instances of one series
STEP = dt.timedelta(minutes=30)
LENGTH = dt.timedelta(minutes=25)


def invitation(uid: str, room: str, start: dt.datetime, end: dt.datetime, rrule: str = "") -> str:
    rule = f"RRULE:{rrule}\r\n" if rrule else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n{rule}SUMMARY:Bench {uid}\r\n"
            f"ORGANIZER:mailto:{EMAIL}\r\n"
            f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=NON-PARTICIPANT;CUTYPE=ROOM:mailto:{room}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def _put(dav: Dav, path: str, body: str) -> float:
    reply = dav.request("PUT", path, body, headers={"Content-Type": "text/calendar"})
    if reply.status not in (200, 201, 204):
        raise RuntimeError(f"PUT {path}: HTTP {reply.status}: {reply.body[:300]!r}")
    return reply.seconds


def _answer(dav: Dav, path: str, room: str) -> str:
    text = dav.get(path).body.decode().replace("\r\n ", "")
    line = next(l for l in text.splitlines() if l.startswith("ATTENDEE") and room in l.lower())
    return line.split("PARTSTAT=", 1)[1].split(";", 1)[0].split(":", 1)[0]


def fill(dav: Dav, room: str, bookings: int, first: dt.datetime) -> dt.datetime:
    """Book ``bookings`` half-hour slots from ``first`` by series invitations; returns where they end."""
    start = first
    while bookings > 0:
        count = min(bookings, SERIES_LENGTH)
        uid = f"fill-{uuid.uuid4().hex}"
        path = f"/{USER}/personal/{uid}.ics"
        _put(dav, path, invitation(uid, room, start, start + LENGTH,
                                   f"FREQ=MINUTELY;INTERVAL={int(STEP.total_seconds() // 60)};COUNT={count}"))
        if _answer(dav, path, room) != "ACCEPTED":
            raise RuntimeError(f"the room did not accept the fill series {uid}")
        start += STEP * count
        bookings -= count
    return start


def probe(dav: Dav, room: str, at: dt.datetime, expected: str) -> float:
    """Seconds of one invitation at ``at`` (deleted again, untimed)."""
    uid = f"probe-{uuid.uuid4().hex}"
    path = f"/{USER}/personal/{uid}.ics"
    seconds = _put(dav, path, invitation(uid, room, at, at + LENGTH))
    answer = _answer(dav, path, room)
    if answer != expected:
        raise RuntimeError(f"the room answered {answer}, expected {expected}")
    dav.request("DELETE", path)
    return seconds


def measure(dav: Dav, rooms: dict[int, tuple[str, dt.datetime, dt.datetime]], budget: Budget) -> dict:
    """Median latencies per room and kind, the rooms' probes interleaved (one round asks every
    room once), so that the machine's load weighs on every size alike."""
    samples: dict = {size: {"free": [], "conflict": []} for size in rooms}

    def round_() -> float:
        for size, (email, free_at, busy_at) in rooms.items():
            samples[size]["free"].append(probe(dav, email, free_at, "ACCEPTED"))
            samples[size]["conflict"].append(probe(dav, email, busy_at, "DECLINED"))
        return 0.0

    round_()  # warm
    samples = {size: {"free": [], "conflict": []} for size in rooms}
    _repeat(round_, budget)
    return {size: {kind: _result(values) for kind, values in kinds.items()} for size, kinds in samples.items()}


def run(workdir: Path, sizes: list[int], budget: Budget) -> dict:
    out: dict = {"status": "ok", "sizes": {}}
    try:
        with planerix_with_user(workdir, USER) as (server, api_url, api, password):
            api.patch(f"{api_url}/api/account", json={"email": EMAIL}).raise_for_status()
            organisation = api.post(f"{api_url}/api/organisations", json={"name": "Bench"})
            organisation.raise_for_status()
            dav = Dav(server.base_url, (USER, password))
            server.prepare_user(dav, USER)
            first = (dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
                     + dt.timedelta(days=1))
            rooms, fills = {}, {}
            for size in sizes:
                email = f"room-{size}@bench.example"
                made = api.post(f"{api_url}/api/resources", json={
                    "organisation_id": organisation.json()["id"], "name": f"Room {size}", "email": email})
                made.raise_for_status()
                filled = time.perf_counter()
                end = fill(dav, email, size, first)
                fills[size] = round(time.perf_counter() - filled, 2)
                log(f"planerix: room with {size} bookings filled in {fills[size]:.1f}s")
                rooms[size] = (email, end + dt.timedelta(days=1), first + STEP * (size // 2))
            for size, kinds in measure(dav, rooms, budget).items():
                out["sizes"][str(size)] = {"fill_s": fills[size], **kinds}
            dav.close()
    except Exception as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"planerix: FAILED: {exc}")
    return out


def _ms(result: dict) -> str:
    return f"{result['median_s'] * 1000:,.1f} ms ({result['runs']}×)"


def report(results: dict) -> str:
    meta, entry = results["meta"], results["planerix"]
    lines = [f"# Booking a room ({meta['started']})", "", f"Command: `{meta['command']}`", "", meta["machine"], ""]
    if entry["status"] != "ok":
        return "\n".join(lines + [f"FAILED: {entry.get('reason')}"]) + "\n"
    sizes = list(entry["sizes"])
    lines += ["Latency of a CalDAV PUT of an invitation to the room, until the room has answered "
              "and the organizer's copy holds the answer.", "",
              "| bookings on the room | free time (accepted) | overlapping (declined) | fill (s) |",
              "|---|---|---|---|"]
    for size in sizes:
        e = entry["sizes"][size]
        lines.append(f"| {int(size):,} | {_ms(e['free'])} | {_ms(e['conflict'])} | {e['fill_s']} |")
    if len(sizes) >= 2:
        small, large = entry["sizes"][sizes[0]], entry["sizes"][sizes[-1]]
        for kind in ("free", "conflict"):
            ratio = large[kind]["median_s"] / small[kind]["median_s"]
            lines.append(f"\n{kind}: {int(sizes[-1]):,} ÷ {int(sizes[0]):,} bookings = {ratio:.2f}× "
                         f"(target ≤ 1.5: {'pass' if ratio <= 1.5 else 'miss'})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.rooms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.sizes, args.reps, args.seconds = "20,200", 3, 2.0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-rooms-")) if args.smoke
                       else Path(__file__).resolve().parent / "results")
    results = {"meta": {"started": started.isoformat(timespec="seconds"), "sizes": sizes,
                        "command": "python -m bench.rooms " + " ".join(sys.argv[1:] if argv is None else argv),
                        "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, Python {sys.version.split()[0]}"}}
    with tempfile.TemporaryDirectory(prefix="bench-rooms-") as workdir:
        results["planerix"] = run(Path(workdir), sizes, Budget(reps=args.reps, seconds=args.seconds))
    return save_results(out, "rooms", results, report(results))


if __name__ == "__main__":
    main()
