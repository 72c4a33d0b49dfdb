"""Debian's PgBouncer and HAProxy as test processes: each on free ports, with its own
configuration in a temporary folder (never the system services).

In CI (``CI=true``) a missing tool fails the tests: .ci/run installs both, so their absence is a
broken machine, not a reason to skip. Elsewhere the tests skip with the command that fixes it."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from bench import haproxy
from bench.haproxy import wait_for_port
from conftest import free_port
from waiting import wait_until

NODE_HEADER = "X-Planerix-Node"

# pgbouncer refuses to run as root; it drops to this user when started as root.
UNPRIVILEGED_USER = "nobody"


def require(tool: str, package: str, tests: str = "the scale-out tests") -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")
    if path:
        return path
    reason = f"{tool} is not installed (apt-get install -y {package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: {tests} must run in CI", pytrace=False)
    pytest.skip(reason)


def _open_to(folder: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(folder, entry.pw_uid, entry.pw_gid)


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of the PostgreSQL server at ``server_url``
    (TCP or a Unix socket folder); ``url(database)`` is a database through it."""

    def __init__(self, server_url: str, pool_size: int = 10) -> None:
        binary = require("pgbouncer", "pgbouncer")
        server = make_url(server_url)
        socket_dir = server.query.get("host")
        host = socket_dir or server.host or "127.0.0.1"
        user = UNPRIVILEGED_USER
        if socket_dir and os.getuid() == 0:
            user = pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name  # may reach the socket
        target = f"host={host} port={server.port or 5432} user={server.username or 'postgres'}"
        if server.password:
            target += f" password={server.password}"
        self.port = free_port()
        # Its own folder under /tmp: pytest's are private to root, which it may not run as.
        folder = self.folder = Path(tempfile.mkdtemp(prefix="planerix-pgbouncer-"))
        self.log = folder / "pgbouncer.log"
        config = folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = {target}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = any\npool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 1000\n"
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.log}\npidfile = {folder / 'pgbouncer.pid'}\n")
        command = [binary, str(config)]
        if os.getuid() == 0:
            _open_to(folder, user)
            command[1:1] = ["-u", user]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, self.log)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        haproxy.stop_process(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


class HAProxy(haproxy.HAProxy):
    """docs/haproxy.cfg balancing over ``nodes`` (objects with ``caldav_port`` and ``api_port``),
    returned once every node answers through it (its health checks may have marked a node that
    was slow to start as down: it comes back after two good checks)."""

    def __init__(self, nodes, folder: Path, timeout: float = 60) -> None:
        super().__init__(require("haproxy", "haproxy"), [(n.caldav_port, n.api_port) for n in nodes], folder)
        for url, kind in ((self.caldav_url, "caldav"), (self.api_url, "api")):
            expected = {f"{kind}-{n}" for n in range(1, len(nodes) + 1)}
            seen: set[str] = set()

            def all_seen() -> bool:
                answer = requests.get(url + "/readyz", timeout=5)
                seen.add(answer.headers.get(NODE_HEADER, ""))
                return expected <= seen

            wait_until(all_seen, timeout=timeout, interval=0.2, what=f"HAProxy to send {kind} requests to every node")
