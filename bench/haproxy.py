"""HAProxy with the example configuration (docs/haproxy.cfg) in front of Planerix nodes, for
the scale-out benchmark and tests: its ports and server lines replaced, in a folder of its own."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "docs" / "haproxy.cfg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configuration(caldav_port: int, api_port: int, nodes: list[tuple[int, int]]) -> str:
    """docs/haproxy.cfg listening on loopback ``caldav_port`` and ``api_port``, balancing over
    ``nodes`` (each node's CalDAV and API port on loopback)."""
    text = EXAMPLE.read_text()
    text = text.replace("bind :5232", f"bind 127.0.0.1:{caldav_port}")
    text = text.replace("bind :5233", f"bind 127.0.0.1:{api_port}")
    for index, kind in enumerate(("caldav", "api")):
        example = "\n".join(line for line in text.splitlines() if line.strip().startswith(f"server {kind}-"))
        servers = "\n".join(f"    server {kind}-{n} 127.0.0.1:{ports[index]}"
                            for n, ports in enumerate(nodes, 1))
        text = text.replace(example, servers)
    return text


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


class HAProxy:

    def __init__(self, binary: str, nodes: list[tuple[int, int]], folder: Path) -> None:
        self.caldav_port, self.api_port = free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "haproxy.cfg"
        self.config.write_text(configuration(self.caldav_port, self.api_port, nodes))
        self.log = folder / "haproxy.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen([binary, "-db", "-f", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.caldav_port, self.process, self.log)
        wait_for_port(self.api_port, self.process, self.log)

    @property
    def caldav_url(self) -> str:
        return f"http://127.0.0.1:{self.caldav_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
