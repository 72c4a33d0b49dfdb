"""Stock Radicale 3.9 on a ``multifilesystem`` store, as a child process, for the moving tests;
and what a client sees of a collection (hrefs with ETags, properties)."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import requests

from bench.servers import real_clock_environment
from conftest import REPO, free_port
from waiting import listening, wait_until

DAV = "{DAV:}"


class StockRadicale:
    """``python -m radicale`` serving ``store`` with plain htpasswd users, owner_only rights."""

    def __init__(self, store: Path, users: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config_dir = store.parent / f"{store.name}-config"
        config_dir.mkdir(exist_ok=True)
        htpasswd = config_dir / "users"
        htpasswd.write_text("".join(f"{name}:{password}\n" for name, password in users.items()))
        config = config_dir / "radicale.conf"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\ndelay = 0\n"
            "[rights]\ntype = owner_only\n"
            f"[storage]\ntype = multifilesystem\nfilesystem_folder = {store}\n"
            "[logging]\nlevel = warning\n")
        # Stock Radicale keeps the real clock in the clock-ahead run: it compares file mtimes
        # with time() and would drop its sync tokens (bench.servers.real_clock_environment).
        self.process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=real_clock_environment())
        try:
            wait_until(lambda: listening(self.base_url), timeout=60, what="stock Radicale to listen")
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        output, _ = self.process.communicate(timeout=20)
        return output

    def __enter__(self) -> "StockRadicale":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def listing(base_url: str, auth: tuple[str, str], path: str) -> dict[str, str]:
    """href (last segment) → ETag of every member of the collection at ``path``."""
    response = requests.request(
        "PROPFIND", f"{base_url}{path}", auth=auth, headers={"Depth": "1", "Content-Type": "application/xml"},
        data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>')
    assert response.status_code == 207, response.text
    members = {}
    for answer in ET.fromstring(response.content).iter(f"{DAV}response"):
        href = unquote(answer.findtext(f"{DAV}href"))
        etag = answer.findtext(f".//{DAV}getetag")
        if href.rstrip("/") != path.rstrip("/") and etag:
            members[href.rsplit("/", 1)[1]] = etag
    return members


def properties(base_url: str, auth: tuple[str, str], path: str, names: list[str]) -> dict[str, str]:
    """The text of ``names`` (Clark notation) on the collection at ``path`` (absent ones left out)."""
    props = "".join(f'<x:{n.split("}")[1]} xmlns:x="{n[1:].split("}")[0]}"/>' for n in names)
    response = requests.request(
        "PROPFIND", f"{base_url}{path}", auth=auth, headers={"Depth": "0", "Content-Type": "application/xml"},
        data=f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>{props}</D:prop></D:propfind>')
    assert response.status_code == 207, response.text
    found = {}
    for propstat in ET.fromstring(response.content).iter(f"{DAV}propstat"):
        if "200" not in (propstat.findtext(f"{DAV}status") or ""):
            continue
        for prop in propstat.find(f"{DAV}prop"):
            found[prop.tag] = (prop.text or "") + "".join(ET.tostring(c, encoding="unicode") for c in prop)
    return found
