"""Invitation emails (iMIP): what queueing them costs the organizer's PUT, and how fast they go out.

    python -m bench.email --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python -m bench.email --database-url ... --puts 10 --attendees 5     # smaller

On a fresh database of that server (dropped afterwards), two in-process Planerix CalDAV servers:
one without ``[email]`` (external attendees get SCHEDULE-STATUS 3.7, nothing is queued) and one
with ``[email]`` pointing at an aiosmtpd server on loopback. One organizer PUTs ``--puts`` new
invitations of ``--attendees`` external attendees each to both; reported: the median PUT time of
each and their ratio (the mails are only queued in the write's transaction), and the rate at
which one email worker then empties the outbox (mails accepted by the SMTP server per second,
batches of 20 over one connection, each followed by one SCHEDULE-STATUS rewrite of the
organizer's copy). Needs the test extra (aiosmtpd).
"""
from __future__ import annotations

import argparse
import secrets
import socket
import statistics
import threading
import time
import uuid

import psycopg
import requests
from aiosmtpd.controller import Controller
from psycopg import sql
from sqlalchemy.engine import make_url

import okr_extension
from server import settings
from server.caldav_server import CalDAVServer
from server.scheduling import email_delivery
from storage_plugin import accounts, database


class _Counter:
    def __init__(self) -> None:
        self.count, self._lock = 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.count += 1
        return "250 OK"


def _invitation(uid: str, organizer: str, attendees: int) -> str:
    guests = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:guest-{i}-{uid}@outside.test\r\n"
                     for i in range(attendees))
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20270104T100000Z\r\nDTEND:20270104T110000Z\r\n"
            f"SUMMARY:Bench\r\nORGANIZER:mailto:{organizer}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}\r\n"
            f"{guests}END:VEVENT\r\nEND:VCALENDAR\r\n")


def _server(url: str, extra: dict) -> CalDAVServer:
    configuration = settings.radicale_configuration(url, "127.0.0.1", 0)
    configuration.update({"logging": {"level": "warning"}, "auth": {"delay": "0"}, **extra}, "bench")
    server = CalDAVServer(configuration, "127.0.0.1", 0)
    server.start()
    return server


def _put_times(base: str, name: str, password: str, puts: int, attendees: int) -> list[float]:
    session, email = requests.Session(), f"{name}@example.org"
    session.auth = (name, password)
    times = []
    for _ in range(puts):
        uid = uuid.uuid4().hex
        started = time.perf_counter()
        response = session.put(f"{base}/{name}/personal/{uid}.ics", data=_invitation(uid, email, attendees).encode(),
                               headers={"Content-Type": "text/calendar; charset=utf-8"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 201, response.text
    return times


def run(server_url: str, puts: int, attendees: int) -> dict:
    admin = make_url(server_url)
    name = f"planerix_bench_email_{secrets.token_hex(4)}"
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = admin.set(database=name).set(drivername="postgresql").render_as_string(hide_password=False)
    counter = _Counter()
    with socket.socket() as probe:  # a free port (the controller reports the one it was given)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(counter, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        engine = database.engine_for(url)
        okr_extension.migrate(engine)
        password = secrets.token_urlsafe(12)
        users = [f"bench-{secrets.token_hex(3)}" for _ in range(2)]
        for user in users:
            accounts.add(engine, user, password, email=f"{user}@example.org")
        plain = _server(url, {})
        # Its own worker waits (a long interval): the PUTs are timed alone, then the outbox is
        # emptied by a worker driven from here, timed alone.
        mailing = _server(url, {"email": {"host": "127.0.0.1", "port": str(smtp.port), "security": "none",
                                          "sender": "planerix@example.org"},
                                "scheduling": {"worker_interval_seconds": "3600"}})
        try:
            without = _put_times(f"http://127.0.0.1:{plain.port}", users[0], password, puts, attendees)
            with_email = _put_times(f"http://127.0.0.1:{mailing.port}", users[1], password, puts, attendees)
            worker = email_delivery.EmailWorker(mailing.application._storage)
            started = time.perf_counter()
            while worker.run_due():
                pass
            elapsed = time.perf_counter() - started
        finally:
            plain.stop()
            mailing.stop()
        return {"puts": puts, "attendees": attendees, "median_put_ms_without_email": statistics.median(without) * 1e3,
                "median_put_ms_with_email": statistics.median(with_email) * 1e3,
                "ratio": statistics.median(with_email) / statistics.median(without),
                "mails": counter.count, "mails_per_second": counter.count / elapsed}
    finally:
        smtp.stop()
        database.dispose(url)
        with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server where a database may be created")
    parser.add_argument("--puts", type=int, default=30)
    parser.add_argument("--attendees", type=int, default=20)
    args = parser.parse_args()
    result = run(args.database_url, args.puts, args.attendees)
    print(f"{result['puts']} invitations x {result['attendees']} external attendees")
    print(f"median PUT without [email]: {result['median_put_ms_without_email']:.1f} ms")
    print(f"median PUT with [email]:    {result['median_put_ms_with_email']:.1f} ms "
          f"(ratio {result['ratio']:.2f})")
    print(f"mails sent: {result['mails']}, {result['mails_per_second']:.0f} per second (one worker)")


if __name__ == "__main__":
    main()
