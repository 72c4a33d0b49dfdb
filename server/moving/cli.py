"""What ``planerix import`` and ``planerix export`` print (server/cli.py parses the arguments)."""
from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Optional

from okr_extension.feeds.fetch import FetchError
from okr_extension.feeds.importer import FeedInvalid
from server import launcher
from server.embedded import EmbeddedPostgres
from server.moving import backup, caldav_import, ics_import, radicale_export, radicale_import, radicale_store
from storage_plugin.accounts import AccountError
from storage_plugin.storage import Storage
from storage_plugin.writer import WriteError

# Refusals of a whole command: printed as "planerix: …", exit status 2.
REFUSED = (radicale_store.StoreError, FeedInvalid, FetchError, WriteError, backup.BackupError,
           caldav_import.SourceError, AccountError)


def add_commands(commands, add_database_options) -> None:
    """``import radicale|ics|caldav`` and ``export radicale`` under ``planerix``'s subcommands."""
    importing = commands.add_parser("import", help="import calendars from elsewhere").add_subparsers(
        dest="import_command", required=True)
    exporting = commands.add_parser("export", help="export calendars").add_subparsers(
        dest="export_command", required=True)
    for subcommands, verb, help_text, where in (
            (importing, "import", "a Radicale multifilesystem store, with hrefs and ETags unchanged",
             "Radicale's [storage] filesystem_folder (or its collection-root)"),
            (exporting, "export", "a Radicale multifilesystem store that stock Radicale serves unchanged",
             "where to write it (a new directory)")):
        radicale = subcommands.add_parser("radicale", help=help_text)
        radicale.add_argument("directory", help=where)
        radicale.add_argument("--user", action="append", metavar="NAME",
                              help=f"{verb} only this user's collections (repeatable)")
        add_database_options(radicale)
    ics = importing.add_parser(
        "ics", help="one or many VCALENDARs from a file or an http(s)/webcal URL, split by UID")
    ics.add_argument("source", help="a file, or a URL (fetched as a feed is)")
    ics.add_argument("--calendar", required=True, metavar="/NAME/CAL/",
                     help="the calendar to import into (created if missing)")
    add_database_options(ics)
    caldav = importing.add_parser(
        "caldav", help="every calendar and task list of an account on another CalDAV server")
    caldav.add_argument("url", help="the server's URL (discovery as clients do), or a calendar's")
    caldav.add_argument("--user", required=True, metavar="NAME", help="the account on that server")
    caldav.add_argument("--password-file", metavar="FILE",
                        help="a file whose first line is the password (default: standard input)")
    caldav.add_argument("--into", metavar="NAME", help="the Planerix user to import into (default: --user)")
    add_database_options(caldav)


def refused(e: Exception) -> int:
    print(f"planerix: {getattr(e, 'reason', None) or e}", file=sys.stderr)
    return 2


def run_import(storage: Storage, args) -> int:
    """Exit status 0 when everything was imported, 1 when something was skipped (listed),
    2 when the import was refused (nothing changed)."""
    try:
        if args.import_command == "caldav":
            report = caldav_import.import_caldav(storage, args.url, args.user, _password(args.password_file),
                                                 args.into, progress=_progress)
            status = _report_radicale(report)
            print(f"ETags kept: {report.etags_kept} of {report.etags_total} (the others are new: "
                  "clients download those items once)")
            return status
        if args.import_command == "ics":
            return _report_ics(args.calendar, ics_import.import_ics(storage, args.source, args.calendar))
        return _report_radicale(radicale_import.import_radicale(storage, args.directory, args.user))
    except REFUSED as e:
        return refused(e)


def _password(file: Optional[str]) -> str:
    if file is not None:
        try:
            with open(file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise AccountError(f"cannot read the password file {file}: {e.strerror or e}") from None
    if sys.stdin.isatty():
        return getpass.getpass("Password on the other server: ")
    return sys.stdin.readline().rstrip("\r\n")


PROGRESS_WIDTH = 30


def progress_line(path: str, done: int, total: int) -> str:
    """``/bob/work/ [#########.....] 600 of 1000 items read`` (a full bar for an empty calendar)."""
    filled = PROGRESS_WIDTH * done // total if total else PROGRESS_WIDTH
    return f"/{path}/ [{'#' * filled}{'.' * (PROGRESS_WIDTH - filled)}] {done} of {total} items read"


def _progress(path: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        print("\r" + progress_line(path, done, total), end="\n" if done >= total else "",
              file=sys.stderr, flush=True)


def _report_ics(calendar: str, changes) -> int:
    for uid, reason in changes.skipped.items():
        print(f"skipped UID {uid!r}: {reason}", file=sys.stderr)
    print(f"{calendar}: {changes.added} new, {changes.changed} changed, {changes.unchanged} unchanged; "
          f"{len(changes.skipped)} skipped")
    return 1 if changes.skipped else 0


def _report_radicale(report: radicale_import.ImportReport) -> int:
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
    try:
        report = radicale_export.export_radicale(storage, args.directory, args.user)
    except REFUSED as e:
        return refused(e)
    for path, count in report.collections.items():
        print(f"/{path}/: {count} item(s)")
    print(f"exported {len(report.collections)} collection(s) with {report.items} item(s) "
          f"to {args.directory}")
    return 0


def run_backup(url: str, file: str) -> int:
    try:
        tool = backup.backup(url, Path(file))
    except REFUSED as e:
        return refused(e)
    print(f"backup written to {file} (pg_dump {tool.major}, custom format)")
    return 0


def run_restore(data_dir: Path, url: Optional[str], file: str) -> int:
    """Restore into the database before any migration creates tables in it, then migrate
    (the backup may predate this version)."""
    embedded = None
    try:
        if not url:
            embedded = EmbeddedPostgres(data_dir)
            target = embedded.start()
        else:
            target = url
        tool = backup.restore(target, Path(file))
    except REFUSED as e:
        return refused(e)
    finally:
        if embedded is not None:
            embedded.stop()
    with launcher.open_database(data_dir, url):
        pass
    print(f"{file} restored (pg_restore {tool.major}); database schema is up to date")
    return 0
