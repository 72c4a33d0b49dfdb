"""Start/stop the servers under test, their URL layout and their memory use.

Each server runs as a child process on a free loopback port with its data in
its own work directory.  ``memory()`` sums RSS and PSS over the server's
process tree plus any process whose command line names the work directory
(catches a daemonised embedded PostgreSQL); PSS does not double count
shared memory such as PostgreSQL's shared buffers.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(processes) -> float:
    """User and system CPU time ``processes`` have used so far (those gone meanwhile count 0)."""
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def real_clock_environment() -> dict[str, str]:
    """This process's environment without libfaketime (.ci/clock-ahead), for peers and tools
    whose clock is not under test."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


class Server:
    """Common process handling; subclasses define command line and layout."""

    name = "server"
    storage = None  # "radicale-fs" | "xandikos-git" | None (HTTP fill only)
    auth_note = ""
    # Peers run on the real clock even when the suite runs under libfaketime (.ci/clock-ahead):
    # the clock-ahead run tests Planerix, and stock Radicale (file mtimes against a faked time)
    # and Xandikos do not survive a faked clock.
    fake_clock = False

    def __init__(self, workdir: Path, users: dict[str, str]):
        self.workdir = Path(workdir)
        self.users = users
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.notes: list[str] = []
        self._log = None

    # --- layout -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calendar_path(self, user: str, cal: str) -> str:
        return f"/{user}/{cal}/"

    def home_path(self, user: str) -> str:
        return f"/{user}/"

    def prepare_user(self, dav, user: str) -> None:
        """Anything needed over HTTP before MKCALENDAR under the user's home.

        Radicale (and Planerix) create the principal collection on the user's
        first authenticated request, so one PROPFIND of the home is enough.
        """
        dav.propfind(self.home_path(user), "<propfind xmlns='DAV:'><prop><resourcetype/></prop></propfind>", "0")

    def collection_dir(self, user: str, cal: str) -> Path:
        raise NotImplementedError

    # --- process ------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        return None

    def command(self) -> tuple[list[str], Path | None]:
        raise NotImplementedError

    def setup(self) -> None:
        """Write config/users before start."""

    def start(self, ready_timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.setup()
        cmd, cwd = self.command()
        self._log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self._environment())
        self._wait_ready(ready_timeout)

    def _environment(self) -> dict[str, str]:
        return dict(os.environ) if self.fake_clock else real_clock_environment()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.workdir}/server.log")
            try:
                requests.request("OPTIONS", self.base_url + "/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.workdir}/server.log")

    def _processes(self) -> list[psutil.Process]:
        procs: dict[int, psutil.Process] = {}
        roots = []
        if self.proc and self.proc.poll() is None:
            roots.append(psutil.Process(self.proc.pid))
        marker = str(self.workdir)
        for p in psutil.process_iter(["cmdline"]):
            try:
                if p.info["cmdline"] and marker in " ".join(p.info["cmdline"]):
                    roots.append(p)
            except (psutil.Error, TypeError):
                continue
        for root in roots:
            try:
                for p in [root, *root.children(recursive=True)]:
                    procs[p.pid] = p
            except psutil.Error:
                continue
        procs.pop(os.getpid(), None)
        return list(procs.values())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far (for Planerix with its
        embedded PostgreSQL's: the backends that answer its queries)."""
        return cpu_seconds(self._processes())

    def memory(self) -> dict:
        """PSS and RSS of the whole server (for Planerix: with its PostgreSQL), and of the
        server's own process alone (``app_*``), so a database's share can be told apart."""
        rss = pss = app_rss = app_pss = 0
        n = 0
        for p in self._processes():
            try:
                info = p.memory_full_info()
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            if self.proc is not None and p.pid == self.proc.pid:
                app_rss, app_pss = info.rss, getattr(info, "pss", info.rss)
            n += 1
        return {"rss_bytes": rss, "pss_bytes": pss, "processes": n,
                "app_rss_bytes": app_rss, "app_pss_bytes": app_pss}

    def peak_memory(self) -> list[dict]:
        """Each process of the server with its peak RSS so far (the kernel's high-water mark,
        ``VmHWM``) and its RSS now, largest peak first: a spike between two samples is not missed."""
        found = []
        for p in self._processes():
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
                name = p.name()
            except (OSError, psutil.Error):
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            kib = {key: int(fields[key].split()[0]) for key in ("VmHWM", "VmRSS") if key in fields}
            found.append({"pid": p.pid, "name": name, "main": self.proc is not None and p.pid == self.proc.pid,
                          "peak_rss_bytes": kib.get("VmHWM", 0) * 1024, "rss_bytes": kib.get("VmRSS", 0) * 1024})
        return sorted(found, key=lambda entry: -entry["peak_rss_bytes"])

    def stop(self) -> None:
        leftovers = self._processes()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for p in leftovers:  # our own children/daemons only, by pid
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    p.terminate()
                    p.wait(timeout=15)
            except psutil.Error:
                pass
        if self._log:
            self._log.close()
            self._log = None


class RadicaleServer(Server):
    name = "radicale"
    storage = "radicale-fs"
    auth_note = "htpasswd (plain)"

    def setup(self) -> None:
        (self.workdir / "collections").mkdir(exist_ok=True)
        (self.workdir / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        (self.workdir / "config").write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "max_connections = 32\n"
            "[auth]\ntype = htpasswd\n"
            f"htpasswd_filename = {self.workdir / 'users'}\n"
            "htpasswd_encryption = plain\n"
            "[storage]\ntype = multifilesystem\n"
            f"filesystem_folder = {self.workdir / 'collections'}\n"
            "[logging]\nlevel = warning\nmask_passwords = True\n"
        )
        self.notes = [
            "Radicale 3.9 stock code, multifilesystem storage, htpasswd auth (plain); "
            "config sets only hosts, max_connections = 32 (default 8 would queue 16 clients), "
            "auth, storage folder, logging level = warning."
        ]

    def command(self):
        return [sys.executable, "-m", "radicale", "--config", str(self.workdir / "config")], None

    def collection_dir(self, user: str, cal: str) -> Path:
        return self.workdir / "collections" / "collection-root" / user / cal


class XandikosServer(Server):
    name = "xandikos"
    storage = "xandikos-git"
    auth_note = "none (Xandikos has no plain-HTTP auth; its --htpasswd needs --autocert TLS)"

    def unavailable_reason(self):
        if importlib.util.find_spec("xandikos") is None:
            return "xandikos is not installed (pip install xandikos)"
        return None

    def setup(self) -> None:
        (self.workdir / "data").mkdir(exist_ok=True)
        self.notes = [
            "Xandikos (git-backed), started with --autocreate, no authentication "
            "(the Basic auth header the harness sends is ignored)."
        ]

    def command(self):
        return [sys.executable, "-m", "xandikos", "serve", "--autocreate", "-d", str(self.workdir / "data"),
                "-l", "127.0.0.1", "-p", str(self.port),
                "--state-dir", str(self.workdir / "state")], None

    def calendar_path(self, user: str, cal: str) -> str:
        return f"/{user}/calendars/{cal}/"

    def home_path(self, user: str) -> str:
        return f"/{user}/calendars/"

    def prepare_user(self, dav, user: str) -> None:
        for path in (f"/{user}/", f"/{user}/calendars/"):
            r = dav.mkcol(path)  # 405 = already there
            if r.status not in (200, 201, 405):
                raise RuntimeError(f"MKCOL {path} -> {r.status}")

    def collection_dir(self, user: str, cal: str) -> Path:
        return self.workdir / "data" / user / "calendars" / cal


class PlanerixServer(Server):
    name = "planerix"
    storage = None
    fake_clock = True
    auth_note = "Planerix database users (Basic auth)"

    def __init__(self, workdir, users, command: str | None = None, database_url: str | None = None):
        super().__init__(workdir, users)
        self.api_port = free_port()
        self._base_cmd, self._cwd = self._find_command(command)
        # An (empty) database on an external server instead of the embedded one in the work dir.
        self.database_url = database_url

    def _database_args(self) -> list[str]:
        if self.database_url:
            return ["--database-url", self.database_url]
        return ["--data-dir", str(self.workdir / "data")]

    @staticmethod
    def _find_command(command: str | None):
        """``--planerix-cmd`` if given, else this checkout's server (never another
        ``planerix`` that happens to be on PATH)."""
        if command:
            return shlex.split(command), None
        return [sys.executable, "-m", "server"], REPO_ROOT

    def unavailable_reason(self):
        return None

    def setup(self) -> None:
        for user, pw in self.users.items():
            # "--password=" keeps a generated password that starts with "-" from reading as an option
            subprocess.run([*self._base_cmd, "user", "add", user, f"--password={pw}", *self._database_args()],
                           cwd=self._cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                           timeout=300)
        self.notes = [
            f"Planerix ({'an external PostgreSQL' if self.database_url else 'embedded PostgreSQL in the work dir'}), "
            "users created with "
            "`planerix user add` (its own DB users, Basic auth); filled only through HTTP PUT."
        ]

    def command(self):
        # One process, as the peers: bench/scaleout.py measures more workers and nodes. Another
        # build (--planerix-cmd, a baseline) may predate --workers, and then has one process.
        workers = ["--workers", "1"] if self._cwd is not None else []
        return [*self._base_cmd, "serve", *self._database_args(), "--host", "127.0.0.1",
                "--caldav-port", str(self.port), "--api-port", str(self.api_port), *workers], self._cwd


class SabreDAVServer(Server):
    """SabreDAV 4.7 (PHP) on a fresh PostgreSQL database: optional, only when
    ``PLANERIX_BENCH_SABREDAV`` names a folder set up as bench/README.md describes (a
    ``server.php`` after sabre's examples/calendarserver.php reading ``SABRE_DSN`` and
    ``SABRE_USERS``, and sabre's ``examples/sql/pgsql.*.sql`` in ``sql/``). None of SabreDAV's
    code is in this repository. Served by PHP's built-in server with
    ``PHP_CLI_SERVER_WORKERS`` forked workers (``PLANERIX_BENCH_SABREDAV_WORKERS``, default 16:
    one per client, as PHP-FPM would be sized for them)."""

    name = "sabredav"
    storage = None
    auth_note = "Basic, checked by a BasicCallBack against the bench users (no hashing)"
    SCHEMA = ("principals", "calendars", "propertystorage", "locks")

    def __init__(self, workdir, users, database_server: str = "postgresql://postgres@127.0.0.1:5432/postgres"):
        super().__init__(workdir, users)
        self.folder = Path(os.environ.get("PLANERIX_BENCH_SABREDAV", ""))
        self.workers = int(os.environ.get("PLANERIX_BENCH_SABREDAV_WORKERS", "16"))
        self.database_server = database_server
        self.database = f"planerix_bench_sabre_{os.getpid()}_{self.port}"

    def unavailable_reason(self):
        if not os.environ.get("PLANERIX_BENCH_SABREDAV"):
            return "PLANERIX_BENCH_SABREDAV is not set (the folder of a SabreDAV server.php, see bench/README.md)"
        missing = [str(f) for f in [self.folder / "server.php", *(self.folder / "sql" / f"pgsql.{n}.sql"
                                                                   for n in self.SCHEMA)] if not f.exists()]
        if missing:
            return f"missing in PLANERIX_BENCH_SABREDAV: {', '.join(missing)}"
        if shutil.which("php") is None:
            return "php is not installed (apt-get install php-cli php-xml php-mbstring php-pgsql)"
        return None

    def _url(self, database: str) -> str:
        from sqlalchemy.engine import make_url
        return make_url(self.database_server).set(drivername="postgresql", database=database).render_as_string(
            hide_password=False)

    def setup(self) -> None:
        import psycopg
        from psycopg import sql
        with psycopg.connect(self.database_server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        with psycopg.connect(self._url(self.database), autocommit=True) as conn:
            for name in self.SCHEMA:
                conn.execute((self.folder / "sql" / f"pgsql.{name}.sql").read_text())
            for user in self.users:
                for uri in (f"principals/{user}", f"principals/{user}/calendar-proxy-read",
                            f"principals/{user}/calendar-proxy-write"):
                    conn.execute("INSERT INTO principals (uri, email, displayname) VALUES (%s, %s, %s)",
                                 (uri, f"{user}@example.org" if uri.count("/") == 1 else None, None))
        self.notes = [f"SabreDAV 4.7 (PHP {self._php_version()}, `php -S` with {self.workers} workers), "
                      "CalDAV PDO backend on PostgreSQL, the plugins of sabre's examples/calendarserver.php "
                      "without the HTML browser; filled only through HTTP PUT."]

    @staticmethod
    def _php_version() -> str:
        out = subprocess.run(["php", "-r", "echo PHP_VERSION;"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    def _environment(self) -> dict[str, str]:
        from sqlalchemy.engine import make_url
        url = make_url(self.database_server)
        env = real_clock_environment()
        env.update(PHP_CLI_SERVER_WORKERS=str(self.workers),
                   SABRE_DSN=f"pgsql:host={url.host or '127.0.0.1'};port={url.port or 5432};dbname={self.database}",
                   SABRE_DB_USER=url.username or "postgres", SABRE_DB_PASSWORD=url.password or "",
                   SABRE_USERS=",".join(f"{u}:{p}" for u, p in self.users.items()))
        return env

    def command(self):
        # -d display_errors=0: a PHP warning must not end up inside a response body.
        return ["php", "-d", "display_errors=0", "-d", "log_errors=1", "-S", f"127.0.0.1:{self.port}",
                str(self.folder / "server.php")], self.folder

    def calendar_path(self, user: str, cal: str) -> str:
        return f"/calendars/{user}/{cal}/"

    def home_path(self, user: str) -> str:
        return f"/calendars/{user}/"

    def stop(self) -> None:
        super().stop()
        import psycopg
        from psycopg import sql
        with psycopg.connect(self.database_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))


SERVER_CLASSES = {"planerix": PlanerixServer, "radicale": RadicaleServer, "xandikos": XandikosServer,
                  "sabredav": SabreDAVServer}
