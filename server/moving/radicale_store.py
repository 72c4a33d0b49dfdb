"""Radicale's ``multifilesystem`` layout: ``collection-root/<user>/<collection>/``.

A collection is a directory with a ``.Radicale.props`` file (JSON; its ``tag`` is
``VCALENDAR`` or ``VADDRESSBOOK``); each other regular file whose name is a safe path
component is one item, its name the item's href. Names starting with ``.Radicale``
(props, cache, lock, temporary files) are Radicale's own.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from radicale import pathutils

PROPS_FILE = ".Radicale.props"
ROOT_FOLDER = "collection-root"
LEAF_TAGS = ("VCALENDAR", "VADDRESSBOOK")


class StoreError(ValueError):
    """The directory is not a Radicale store (nothing was imported)."""


@dataclass
class SourceItem:
    href: str
    data: Optional[bytes]  # None: unreadable, see ``error``
    error: Optional[str] = None
    modified: int = 0  # ns since the epoch


@dataclass
class SourceCollection:
    path: str  # "alice/work", as Radicale sanitizes it
    props: Optional[dict]  # None: missing or unreadable, see ``error``
    items: list[SourceItem] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def tag(self) -> str:
        return (self.props or {}).get("tag", "")


def collection_root(directory: str | os.PathLike) -> Path:
    """The ``collection-root`` of a store given as the storage folder or as that root itself."""
    path = Path(directory)
    if (path / ROOT_FOLDER).is_dir():
        return path / ROOT_FOLDER
    if path.name == ROOT_FOLDER and path.is_dir():
        return path
    raise StoreError(f"{directory} is not a Radicale multifilesystem store: it has no "
                     f"{ROOT_FOLDER}/ folder ([storage] filesystem_folder of Radicale's configuration)")


def users(root: Path) -> list[str]:
    return sorted(entry.name for entry in root.iterdir()
                  if entry.is_dir() and pathutils.is_safe_filesystem_path_component(entry.name))


def _read_props(directory: Path) -> tuple[Optional[dict], Optional[str]]:
    try:
        text = (directory / PROPS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"missing {PROPS_FILE}: not known to be a calendar or an address book"
    except (OSError, UnicodeDecodeError) as e:
        return None, f"unreadable {PROPS_FILE}: {e}"
    try:
        props = json.loads(text)
    except ValueError as e:
        return None, f"{PROPS_FILE} is not JSON: {e}"
    if not isinstance(props, dict) or not all(isinstance(v, str) for v in props.values()):
        return None, f"{PROPS_FILE} is not an object of text properties"
    return props, None


def _item_files(directory: Path) -> list[Path]:
    return sorted((entry for entry in directory.iterdir() if entry.is_file()
                   and pathutils.is_safe_filesystem_path_component(entry.name)), key=lambda p: p.name)


def read_collection(directory: Path, path: str) -> SourceCollection:
    props, error = _read_props(directory)
    collection = SourceCollection(path, props, error=error)
    for file in _item_files(directory):
        try:
            modified = file.stat().st_mtime_ns
            collection.items.append(SourceItem(file.name, file.read_bytes(), modified=modified))
        except OSError as e:
            collection.items.append(SourceItem(file.name, None, f"unreadable file: {e.strerror or e}"))
    return collection


def collections(root: Path, only_users: Optional[list[str]] = None) -> Iterator[SourceCollection]:
    """Every calendar and address book under ``root`` (with its items loaded), plus every
    directory holding items without being one (``props`` None or without a leaf tag)."""
    for user in users(root):
        if only_users is not None and user not in only_users:
            continue
        yield from _walk(root / user, user)


def _walk(directory: Path, path: str) -> Iterator[SourceCollection]:
    props, _ = _read_props(directory)
    if props is not None and props.get("tag") in LEAF_TAGS:
        yield read_collection(directory, path)
        return  # Radicale does not nest collections inside calendars
    if "/" in path and _item_files(directory):
        yield read_collection(directory, path)
    for child in sorted(directory.iterdir(), key=lambda p: p.name):
        if child.is_dir() and pathutils.is_safe_filesystem_path_component(child.name):
            yield from _walk(child, f"{path}/{child.name}")


def write_collection(root: Path, path: str, props: dict, items: Iterator[tuple[str, str]]) -> int:
    """Write one collection as Radicale stores it; returns how many items were written."""
    directory = root.joinpath(*path.split("/"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PROPS_FILE).write_text(json.dumps(props, sort_keys=True), encoding="utf-8")
    count = 0
    for href, text in items:
        if not pathutils.is_safe_filesystem_path_component(href):
            raise StoreError(f"/{path}/{href} cannot be a file name")
        # Radicale writes items with newline="" so the CRLFs of the text stay as they are.
        with open(directory / href, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        count += 1
    return count
