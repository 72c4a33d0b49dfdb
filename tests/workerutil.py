"""Helpers for tests of several server processes: the workers of a ``planerix serve``, and a
request sent slowly enough to be in flight when the server is told to stop."""
from __future__ import annotations

import base64
import socket
import time

import psutil


def worker_pids(serve_pid: int) -> set[int]:
    """The worker processes of ``planerix serve --workers`` (spawned children, not
    multiprocessing's resource tracker)."""
    found = set()
    for child in psutil.Process(serve_pid).children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "spawn_main" in cmdline and child.status() != psutil.STATUS_ZOMBIE:
            found.add(child.pid)
    return found


def wait_for_workers(serve_pid: int, count: int, without: set[int] = frozenset(), timeout: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(serve_pid)
        if len(pids) == count and not pids & without:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"expected {count} workers (not {sorted(without)}), found {sorted(worker_pids(serve_pid))}")


def _holder_of(sock: socket.socket, pids) -> int | None:
    """Which of ``pids`` holds the server end of the client socket ``sock`` (accepted it)."""
    client_end = sock.getsockname()[:2]
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.raddr and tuple(c.raddr)[:2] == client_end for c in connections):
            return pid
    return None


def server_processes(serve_pid: int) -> list[int]:
    return [serve_pid, *(child.pid for child in psutil.Process(serve_pid).children(recursive=True))]


def wait_until_serving(pid: int, port: int, timeout: float = 60) -> None:
    """Open connections to ``port`` until process ``pid`` (one of several sharing the socket)
    accepts one: it has started serving."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            accepted_by = None
            while accepted_by is None and time.monotonic() < deadline:
                accepted_by = _holder_of(sock, [p.pid for p in psutil.Process(pid).parent().children()])
                if accepted_by is None:
                    time.sleep(0.05)
            sock.sendall(b"GET /livez HTTP/1.0\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1."), "no answer from /livez"
            if accepted_by == pid:
                return
    raise AssertionError(f"worker {pid} accepted no connection within {timeout:g} s")


class SlowRequest:
    """An HTTP/1.1 request whose body is sent in two halves: between them it is in flight."""

    def __init__(self, url_host: str, port: int, method: str, path: str, body: bytes,
                 content_type: str, auth: tuple[str, str]) -> None:
        self._sock = socket.create_connection((url_host, port), timeout=30)
        credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {url_host}:{port}\r\nAuthorization: Basic {credentials}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        self._rest = body[len(body) // 2:]
        self._sock.sendall(head.encode() + body[:len(body) // 2])

    def wait_accepted(self, serve_pid: int, timeout: float = 30) -> None:
        """Until a process of the server holds this connection: it is in flight there, not
        queued in the kernel."""
        deadline = time.monotonic() + timeout
        while _holder_of(self._sock, server_processes(serve_pid)) is None:
            assert time.monotonic() < deadline, "the server did not accept the connection"
            time.sleep(0.05)

    def finish(self) -> tuple[int, bytes]:
        """Send the rest of the body; the status and the whole response."""
        self._sock.sendall(self._rest)
        response = b""
        while chunk := self._sock.recv(65536):
            response += chunk
        self._sock.close()
        return int(response.split(b" ", 2)[1]), response
