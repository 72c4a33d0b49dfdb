"""Where Planerix keeps its data, and the Radicale configuration it runs with."""
from __future__ import annotations

import configparser
import os
from pathlib import Path

import platformdirs
from radicale import config as radicale_config

DATA_DIR_ENV = "PLANERIX_DATA_DIR"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CALDAV_PORT = 5232
DEFAULT_API_PORT = 5233


def data_dir(explicit: str | None) -> Path:
    chosen = explicit or os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir("planerix")
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# Planerix's own section of the Radicale configuration: ``[scheduling] enabled = false`` turns
# implicit scheduling (RFC 6638) off; clients then schedule by email themselves.
SCHEDULING_SECTION = "scheduling"
radicale_config.DEFAULT_CONFIG_SCHEMA.setdefault(SCHEDULING_SECTION, {
    "enabled": {"value": "True", "type": bool,
                "help": "deliver invitations and replies between local users (calendar-auto-schedule)"},
    "retry_after_seconds": {"value": "5", "type": float,
                            "help": "a delivery its writer has not made this long after the commit "
                                    "(the process died) is made by any server's worker"},
    "worker_interval_seconds": {"value": "2", "type": float,
                                "help": "how often each server's worker looks for such deliveries"},
})


# ``[email]``: the SMTP server that carries invitations to attendees outside Planerix (iMIP);
# each option may come from an environment variable instead (storage_plugin/email_outbox.py).
EMAIL_SECTION = "email"
radicale_config.DEFAULT_CONFIG_SCHEMA.setdefault(EMAIL_SECTION, {
    "host": {"value": "", "type": str, "help": "SMTP server; empty: no email (external attendees get 3.7)"},
    "port": {"value": "0", "type": int, "help": "0: 465 with tls, 587 with starttls, 25 with none"},
    "security": {"value": "", "type": str, "help": "none, starttls or tls (empty: starttls)"},
    "username": {"value": "", "type": str, "help": "SMTP login (empty: none)"},
    "password": {"value": "", "type": str, "help": "SMTP password"},
    "sender": {"value": "", "type": str, "help": "the From address of invitations"},
    "rsvp_url": {"value": "", "type": str,
                 "help": "public address of the sidecar's RSVP pages, e.g. https://cal.example.org/rsvp"},
    # The mailbox polled for the answers mail clients send (server/mail_replies/).
    "imap_host": {"value": "", "type": str, "help": "IMAP server of the mailbox answers arrive in; empty: none polled"},
    "imap_port": {"value": "0", "type": int, "help": "0: 993 with tls, 143 with starttls or none"},
    "imap_security": {"value": "", "type": str, "help": "none, starttls or tls (empty: tls)"},
    "imap_username": {"value": "", "type": str, "help": "IMAP login"},
    "imap_password": {"value": "", "type": str, "help": "IMAP password"},
    "imap_folder": {"value": "", "type": str, "help": "the folder polled (empty: INBOX)"},
    "imap_poll_seconds": {"value": "0", "type": float, "help": "how often the mailbox is polled (0: every 60 s)"},
})


def scheduling_option(configuration, name: str) -> float:
    return float(configuration.get(SCHEDULING_SECTION, name))


def scheduling_enabled(configuration) -> bool:
    """Whether the configuration asks for implicit scheduling (Radicale alone has no such section)."""
    try:
        return bool(configuration.get(SCHEDULING_SECTION, "enabled"))
    except KeyError:
        return False


# What ``planerix serve`` runs with unless a ``--config`` file says otherwise.
PLANERIX_DEFAULTS = {
    "auth": {"type": "storage_plugin.auth", "delay": "1"},
    # One rights decision for CalDAV and the API (storage_plugin.sharing): owner_only plus shares,
    # which appear in the sharee's home through Radicale's map sharing, each sharee naming and
    # colouring them for themselves.
    "rights": {"type": "storage_plugin.sharing.rights"},
    "sharing": {"type": "storage_plugin.sharing.mounts", "collection_by_map": "True",
                "collection_by_token": "False", "permit_create_map": "False",
                "permit_create_token": "False", "permit_properties_overlay": "True",
                "enforce_properties_overlay": "True"},
}


def read_config_file(path: str) -> dict[str, dict[str, str]]:
    """A Radicale configuration file (INI) as ``{section: {option: value}}``, read as Radicale does."""
    parser = configparser.RawConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise RuntimeError(f"Failed to load config file {path!r}: {e}") from e
    return {section: dict(parser.items(section)) for section in parser.sections()}


def radicale_configuration(database_url: str, host: str, port: int,
                           config_file: str | None = None) -> radicale_config.Configuration:
    """Radicale's configuration for ``planerix serve``: our storage and auth plugins.

    A ``config_file`` (Radicale's INI format) is merged over Radicale's and our
    defaults: it may change anything else, for example ``[auth] type = htpasswd``,
    and what it leaves out keeps our default.
    """
    configuration = radicale_config.load()
    configuration.update(PLANERIX_DEFAULTS, "planerix defaults")
    if config_file:
        configuration.update(read_config_file(config_file), f"config file {config_file!r}")
    configuration.update({"storage": {"type": "storage_plugin", "database_url": database_url}},
                         "planerix serve")
    if port:  # 0 asks the OS for a free port: only CalDAVServer binds, Radicale never reads it
        configuration.update({"server": {"hosts": f"{host}:{port}"}}, "planerix serve")
    return configuration
