"""What ``planerix import`` and ``planerix export`` print (server/cli.py parses the arguments)."""
from __future__ import annotations

import sys

from storage_plugin.moving import exporter, importer
from storage_plugin.storage import Storage


def run_import(storage: Storage, args) -> int:
    """Exit status 0 when everything was imported, 1 when something was skipped (listed)."""
    report = importer.import_radicale(storage, args.directory, args.user)
    for done in report.collections:
        kind = "calendar" if done.tag == "VCALENDAR" else "address book"
        print(f"/{done.path}/ ({kind}): {done.new} new, {done.changed} changed, {done.unchanged} unchanged")
    for skipped in report.skipped:
        print(f"skipped {skipped.where}: {skipped.reason}", file=sys.stderr)
    print(f"imported {len(report.collections)} collection(s): {report.total('new')} new, "
          f"{report.total('changed')} changed, {report.total('unchanged')} unchanged item(s); "
          f"{len(report.skipped)} skipped")
    if report.new_users:
        print("users created without a password (they cannot log in until one is set):")
        for name in report.new_users:
            print(f"  {name}: planerix user passwd {name}")
    return 1 if report.skipped else 0


def run_export(storage: Storage, args) -> int:
    report = exporter.export_radicale(storage, args.directory, args.user)
    for path, count in report.collections.items():
        print(f"/{path}/: {count} item(s)")
    print(f"exported {len(report.collections)} collection(s) with {report.items} item(s) "
          f"to {args.directory}")
    return 0
