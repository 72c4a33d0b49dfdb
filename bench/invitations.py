"""Invitation fan-out (RFC 6638 implicit scheduling): 1, 20 and 100 local attendees.

    python -m bench.invitations                        # → bench/results/invitations.md, invitations.json
    python -m bench.invitations --attendees 1,20 --reps 3
    python -m bench.invitations --smoke                # 1 and 3 attendees, one repetition

One organizer and as many attendees as the largest size, every one a local user with an
address. Each repetition the organizer PUTs a new event (a fresh UID) naming the first N
attendees; the clock runs from the start of the PUT until a calendar-query by UID has found the
attendee's copy in the default calendar of every one of them (checked attendee by attendee,
each polled until its copy is there). Reported per size: the median PUT (both servers deliver
before they answer it) and the median time until every copy was seen (the PUT plus one check
per attendee).

Planerix: users made with ``planerix user add --email``, every one visible to every other
(``PLANERIX_DIRECTORY_SCOPE=everyone``: no organisations here); invitations land in the default
calendar (and the inbox). Xandikos 0.4.10 in its ``multi-user`` mode with ``--defaults`` (a
calendar, inbox and outbox per principal), the user named by ``X-Remote-User`` from 127.0.0.1
(it has no plain-HTTP password login), addresses set by PROPPATCH of
``calendar-user-address-set``: it delivers to each local attendee's inbox and applies the
message to their default calendar inside the PUT.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree as ET

import requests

from .dav import ICS, XML, calendar_query_uid
from .run import log, save_results
from .servers import PlanerixServer, XandikosServer

PASSWORD = "bench-pass"
DOMAIN = "example.org"
ORGANIZER = "org"
POLL_SECONDS = 60.0  # a copy not seen by then fails the run


def attendee_names(n: int) -> list[str]:
    return [f"att{i:03d}" for i in range(n)]


def invitation(uid: str, organizer: str, attendees: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix bench//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20250101T000000Z", "DTSTART:20250310T090000Z",
             "DTEND:20250310T100000Z", "SUMMARY:Team meeting",
             f"ORGANIZER:mailto:{organizer}@{DOMAIN}",
             f"ATTENDEE;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:{organizer}@{DOMAIN}",
             *[f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{a}@{DOMAIN}" for a in attendees],
             "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


class Client:
    """One keep-alive session acting as any user: Basic auth (Planerix) or X-Remote-User (Xandikos)."""

    def __init__(self, base_url: str, remote_user_header: bool):
        self.base = base_url
        self.session = requests.Session()
        self.remote_user_header = remote_user_header

    def request(self, user: str, method: str, path: str, body: str = "", headers: dict | None = None):
        headers = dict(headers or {})
        auth = None
        if self.remote_user_header:
            headers["X-Remote-User"] = user
        else:
            auth = (user, PASSWORD)
        return self.session.request(method, self.base + path, data=body.encode(), headers=headers,
                                    auth=auth, timeout=300)

    def prop(self, user: str, path: str, name: str) -> str:
        """The first DAV:href of a CalDAV property of ``path``."""
        reply = self.request(user, "PROPFIND", path, (
            "<D:propfind xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'>"
            f"<D:prop><C:{name}/></D:prop></D:propfind>"), {"Depth": "0", "Content-Type": XML})
        href = ET.fromstring(reply.content).find(f".//{{urn:ietf:params:xml:ns:caldav}}{name}/{{DAV:}}href")
        if reply.status_code != 207 or href is None or not href.text:
            raise RuntimeError(f"PROPFIND {name} of {path} as {user}: HTTP {reply.status_code}: {reply.content[:300]!r}")
        return href.text

    def has_copy(self, user: str, calendar: str, uid: str) -> bool:
        reply = self.request(user, "REPORT", calendar, calendar_query_uid(uid),
                             {"Depth": "1", "Content-Type": XML})
        if reply.status_code != 207:
            raise RuntimeError(f"REPORT {calendar} as {user}: HTTP {reply.status_code}")
        return uid.encode() in reply.content

    def close(self) -> None:
        self.session.close()


def default_calendar(client: Client, user: str) -> str:
    """Where invitations land: the inbox's schedule-default-calendar-URL (RFC 6638 §9.2)."""
    inbox = client.prop(user, f"/{user}/", "schedule-inbox-URL")
    return client.prop(user, inbox, "schedule-default-calendar-URL").rstrip("/") + "/"


def fan_out(client: Client, organizer_calendar: str, calendars: dict[str, str], n: int) -> tuple[float, float]:
    """(PUT seconds, seconds until every attendee's copy was seen) of one invitation to ``n``."""
    uid = str(uuid.uuid4())
    attendees = list(calendars)[:n]
    t0 = time.perf_counter()
    reply = client.request(ORGANIZER, "PUT", f"{organizer_calendar}{uid}.ics",
                           invitation(uid, ORGANIZER, attendees),
                           {"Content-Type": ICS, "If-None-Match": "*"})
    put = time.perf_counter() - t0
    if reply.status_code not in (200, 201, 204):
        raise RuntimeError(f"organizer PUT: HTTP {reply.status_code}: {reply.content[:300]!r}")
    for name in attendees:
        deadline = time.monotonic() + POLL_SECONDS
        while not client.has_copy(name, calendars[name], uid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} has no copy of {uid} after {POLL_SECONDS}s")
            time.sleep(0.005)
    return put, time.perf_counter() - t0


def measure(client: Client, organizer_calendar: str, calendars: dict[str, str], sizes: list[int],
            reps: int, name: str) -> dict:
    out = {}
    fan_out(client, organizer_calendar, calendars, 1)  # warm
    for n in sizes:
        samples = [fan_out(client, organizer_calendar, calendars, n) for _ in range(reps)]
        out[str(n)] = {"put_median_s": statistics.median(s[0] for s in samples),
                       "all_seen_median_s": statistics.median(s[1] for s in samples),
                       "runs": reps, "samples_s": [[round(a, 5), round(b, 5)] for a, b in samples]}
        log(f"{name}: {n} attendees: PUT {out[str(n)]['put_median_s'] * 1000:.0f} ms, "
            f"all copies seen {out[str(n)]['all_seen_median_s'] * 1000:.0f} ms")
    return out


class PlanerixWithAddresses(PlanerixServer):
    """Users made with an email address (their scheduling address), several at a time."""

    def setup(self) -> None:
        data = self.workdir / "data"

        def add(user: str) -> None:
            subprocess.run([*self._base_cmd, "user", "add", user, "--password", PASSWORD,
                            "--email", f"{user}@{DOMAIN}", "--data-dir", str(data)],
                           cwd=self._cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                           timeout=300)

        users = list(self.users)
        add(users[0])  # creates the embedded database; the others join it
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(add, users[1:]))


@contextlib.contextmanager
def running(server, out: dict):
    """The server started for the block and stopped after it; a failure is recorded in ``out``."""
    try:
        server.start()
        yield
    except Exception as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"{server.name}: FAILED: {exc}")
    finally:
        server.stop()


def run_planerix(workdir: Path, sizes: list[int], reps: int) -> dict:
    users = [ORGANIZER, *attendee_names(max(sizes))]
    # Invitations are delivered to users one may know of; no organisations in this run.
    os.environ["PLANERIX_DIRECTORY_SCOPE"] = "everyone"
    server = PlanerixWithAddresses(workdir / "planerix", {u: PASSWORD for u in users})
    out: dict = {"status": "ok"}
    try:
        with running(server, out):
            client = Client(server.base_url, remote_user_header=False)
            calendars = {u: default_calendar(client, u) for u in users}
            out["sizes"] = measure(client, calendars.pop(ORGANIZER), calendars, sizes, reps, "planerix")
            client.close()
    finally:
        os.environ.pop("PLANERIX_DIRECTORY_SCOPE", None)
    return out


class XandikosMultiUser(XandikosServer):
    """``xandikos multi-user --defaults``, trusting X-Remote-User from 127.0.0.1."""

    def command(self):
        return [sys.executable, "-m", "xandikos", "multi-user", "-d", str(self.workdir / "data"),
                "-l", "127.0.0.1", "-p", str(self.port), "--defaults",
                "--trust-x-remote-user-from", "127.0.0.1", "--state-dir", str(self.workdir / "state")], None


def run_xandikos(workdir: Path, sizes: list[int], reps: int) -> dict:
    users = [ORGANIZER, *attendee_names(max(sizes))]
    server = XandikosMultiUser(workdir / "xandikos", {u: PASSWORD for u in users})
    reason = server.unavailable_reason()
    if reason:
        return {"status": "skipped", "reason": reason}
    out: dict = {"status": "ok"}
    with running(server, out):
        client = Client(server.base_url, remote_user_header=True)
        calendars = {}
        for u in users:  # the first request makes the principal; its address is set by PROPPATCH
            reply = client.request(u, "PROPPATCH", f"/{u}/", (
                "<D:propertyupdate xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav'><D:set><D:prop>"
                f"<C:calendar-user-address-set><D:href>mailto:{u}@{DOMAIN}</D:href></C:calendar-user-address-set>"
                "</D:prop></D:set></D:propertyupdate>"), {"Content-Type": XML})
            if reply.status_code != 207 or b"200" not in reply.content:
                raise RuntimeError(f"PROPPATCH address of {u}: HTTP {reply.status_code}: {reply.content[:300]!r}")
            calendars[u] = default_calendar(client, u)
        out["sizes"] = measure(client, calendars.pop(ORGANIZER), calendars, sizes, reps, "xandikos")
        client.close()
    return out


def report(results: dict) -> str:
    meta = results["meta"]
    sizes = meta["attendees"]
    lines = [f"# Invitation fan-out ({meta['started']})", "", f"Command: `{meta['command']}`", "",
             meta["machine"], "",
             "An organizer's PUT of a new event naming N local attendees, until a calendar-query "
             "by UID has found the copy in every attendee's default calendar. Medians of "
             f"{meta['reps']} repetitions per size; times in ms as PUT / all copies seen.", "",
             "| server | " + " | ".join(f"{n} attendee{'s' if n > 1 else ''}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for name, entry in results["servers"].items():
        if entry["status"] != "ok":
            lines.append(f"| {name} | {entry['status']}: {entry.get('reason')} |" + " |" * (len(sizes) - 1))
            continue
        cells = [f"{entry['sizes'][str(n)]['put_median_s'] * 1000:,.0f} / "
                 f"{entry['sizes'][str(n)]['all_seen_median_s'] * 1000:,.0f}" for n in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ok = {k: v for k, v in results["servers"].items() if v["status"] == "ok"}
    if len(ok) == 2 and "planerix" in ok:
        other = next(k for k in ok if k != "planerix")
        ratios = [f"{n}: {ok[other]['sizes'][str(n)]['put_median_s'] / ok['planerix']['sizes'][str(n)]['put_median_s']:.2f}×"
                  for n in sizes]
        lines += ["", f"PUT time, {other} ÷ Planerix — " + ", ".join(ratios) + "."]
    lines += ["", "Both servers deliver to local attendees before they answer the PUT; Planerix also "
                  "writes one queued job per attendee in the organizer's transaction (applied once, "
                  "retried by a worker if the process dies before delivering)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.invitations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attendees", default="1,20,100", help="sizes, comma-separated")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--servers", default="planerix,xandikos")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.attendees, args.reps = "1,3", 1
    sizes = sorted({int(n) for n in args.attendees.split(",") if n.strip()})
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-invitations-")) if args.smoke
                       else Path(__file__).resolve().parent / "results")
    results = {"meta": {"started": started.isoformat(timespec="seconds"), "attendees": sizes, "reps": args.reps,
                        "command": "python -m bench.invitations " + " ".join(sys.argv[1:] if argv is None else argv),
                        "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, Python {sys.version.split()[0]}"},
               "servers": {}}
    with tempfile.TemporaryDirectory(prefix="bench-invitations-") as workdir:
        for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
            log(f"{name}: starting")
            run = {"planerix": run_planerix, "xandikos": run_xandikos}[name]
            results["servers"][name] = run(Path(workdir), sizes, args.reps)
    return save_results(out, "invitations", results, report(results))


if __name__ == "__main__":
    main()
