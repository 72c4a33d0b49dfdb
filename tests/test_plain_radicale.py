"""Plain Radicale (``python -m radicale``) runs on the plugin: schema on first use, htpasswd auth."""
import subprocess
import sys

import psycopg
import pytest
import requests

from conftest import REPO, free_port, fresh_database
from waiting import listening, wait_until


@pytest.fixture
def empty_database(database_server):
    with fresh_database(database_server) as url:
        yield url


def test_plain_radicale_with_htpasswd_on_an_empty_database(tmp_path, empty_database):
    port = free_port()
    (tmp_path / "users").write_text("zoe:zoe-secret-pw\n")
    config = tmp_path / "radicale.conf"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {tmp_path / 'users'}\n"
        "htpasswd_encryption = plain\ndelay = 0\n"
        "[rights]\ntype = owner_only\n"
        f"[storage]\ntype = storage_plugin\ndatabase_url = {empty_database}\n"
        "[logging]\nlevel = warning\n")
    radicale = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: listening(base), timeout=60, what="plain Radicale to listen")
        auth = ("zoe", "zoe-secret-pw")
        assert requests.request("MKCALENDAR", f"{base}/zoe/plain/", auth=auth).status_code == 201
        event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:p1\r\n"
                 "DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nSUMMARY:plain\r\n"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n")
        put = requests.put(f"{base}/zoe/plain/p1.ics", data=event, auth=auth,
                           headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
        assert put.status_code == 201
        assert "SUMMARY:plain" in requests.get(f"{base}/zoe/plain/p1.ics", auth=auth).text
        assert requests.get(f"{base}/zoe/plain/p1.ics", auth=("zoe", "wrong")).status_code == 401
        # A goal link is indexed without the goals' schema (no organisation hears of it); the
        # item is written and deleted like any other.
        linked = event.replace("UID:p1", "UID:p2").replace(
            "SUMMARY:plain", "SUMMARY:linked\r\nX-PLANERIX-KEY-RESULT:3f2c7c64-8f9a-4d7b-9a51-1d2e3f4a5b6c")
        put = requests.put(f"{base}/zoe/plain/p2.ics", data=linked, auth=auth,
                           headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
        assert put.status_code == 201, put.text
        assert requests.delete(f"{base}/zoe/plain/p2.ics", auth=auth).status_code in (200, 204)
    finally:
        radicale.terminate()
        radicale.communicate(timeout=20)

    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 1
        assert conn.execute("SELECT max(version) FROM schema_migration").fetchone()[0] >= 1

    verify = subprocess.run([sys.executable, "-m", "radicale", "--config", str(config), "--verify-storage"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    def verify_after(corruption: str) -> str:
        with psycopg.connect(empty_database) as conn:
            conn.execute(corruption)
        broken = subprocess.run([sys.executable, "-m", "radicale", "--config", str(config),
                                 "--verify-storage"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert broken.returncode != 0
        return broken.stdout + broken.stderr

    assert "occurrence index does not match" in verify_after("DELETE FROM item_occurrence")
    assert "differs from the text" in verify_after("UPDATE item SET etag = '\"corrupted\"'")
