"""The schema Planerix needs: the storage's migrations, then the sidecar's (its tables
reference the storage's accounts)."""
from __future__ import annotations

from storage_plugin import database

MIGRATIONS = "okr_extension.migrations"
PACKAGES = (database.STORAGE_MIGRATIONS, MIGRATIONS)


def migrate(engine) -> list[str]:
    return [name for package in PACKAGES for name in database.upgrade(engine, package)]
