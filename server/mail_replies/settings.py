"""``[email] imap_*``: the mailbox polled for answers (off without a host)."""
from __future__ import annotations

from dataclasses import dataclass

from storage_plugin.email_outbox import email_options, port_option, security_option

ENVIRONMENT = {"imap_host": "PLANERIX_IMAP_HOST", "imap_port": "PLANERIX_IMAP_PORT",
               "imap_security": "PLANERIX_IMAP_SECURITY", "imap_username": "PLANERIX_IMAP_USERNAME",
               "imap_password": "PLANERIX_IMAP_PASSWORD", "imap_folder": "PLANERIX_IMAP_FOLDER",
               "imap_poll_seconds": "PLANERIX_IMAP_POLL_SECONDS"}
IMAP_PORTS = {"tls": 993, "starttls": 143, "none": 143}
DEFAULT_POLL_SECONDS = 60.0


@dataclass(frozen=True)
class MailboxSettings:
    host: str = ""
    port: int = 0
    security: str = "tls"
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    poll_seconds: float = DEFAULT_POLL_SECONDS

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @property
    def imap_port(self) -> int:
        return self.port or IMAP_PORTS[self.security]

    @property
    def name(self) -> str:
        """The mailbox's name in the database (its lease row, the answers taken from it)."""
        return f"{self.username}@{self.host}:{self.imap_port}/{self.folder}"

    @classmethod
    def from_configuration(cls, configuration) -> "MailboxSettings":
        """Raises ValueError naming the option and what to write instead."""
        values = email_options(configuration, ENVIRONMENT)
        if not values["imap_host"]:
            return cls()
        values["imap_security"] = values["imap_security"] or "tls"
        if not values["imap_username"]:
            raise ValueError("[email] imap_host is set but imap_username is empty: "
                             "give the login of the mailbox answers arrive in")
        try:
            poll = float(values["imap_poll_seconds"] or 0) or DEFAULT_POLL_SECONDS
        except ValueError:
            poll = -1.0
        if not 0 < poll <= 86400:
            raise ValueError(f"[email] imap_poll_seconds is {values['imap_poll_seconds']!r}: "
                             "give seconds between polls (at most a day)")
        return cls(values["imap_host"], port_option(values, "imap_port"), security_option(values, "imap_security"),
                   values["imap_username"], values["imap_password"], values["imap_folder"] or "INBOX", poll)
