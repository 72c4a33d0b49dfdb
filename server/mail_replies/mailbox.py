"""One IMAP session on the polled folder (the standard library's imaplib): the unseen mails,
each fetched without marking it, and marked once its answer is taken."""
from __future__ import annotations

import imaplib
import re
import ssl
from typing import Optional

from server.mail_replies.settings import MailboxSettings

IMAP_TIMEOUT_SECONDS = 30
# A REPLY is a few kilobytes; anything far larger is not read (it is marked and flagged).
MAX_MAIL_BYTES = 2_000_000
SEEN, FLAGGED = "\\Seen", "\\Flagged"


class MailboxError(Exception):
    """The IMAP server refused a command (the message has its answer)."""


def _ok(answer: tuple, what: str) -> list:
    status, data = answer
    if status != "OK":
        raise MailboxError(f"IMAP {what}: {status} {data!r}"[:300])
    return data


class MailboxSession:
    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        self._imap: Optional[imaplib.IMAP4] = None

    def __enter__(self) -> "MailboxSession":
        settings, context = self.settings, ssl.create_default_context()
        if settings.security == "tls":
            imap = imaplib.IMAP4_SSL(settings.host, settings.imap_port, ssl_context=context,
                                     timeout=IMAP_TIMEOUT_SECONDS)
        else:
            imap = imaplib.IMAP4(settings.host, settings.imap_port, timeout=IMAP_TIMEOUT_SECONDS)
        try:
            if settings.security == "starttls":
                _ok(imap.starttls(ssl_context=context), "STARTTLS")
            _ok(imap.login(settings.username, settings.password), "LOGIN")
            _ok(imap.select(_quoted(settings.folder)), f"SELECT {settings.folder}")
        except BaseException:
            imap.shutdown()
            raise
        self._imap = imap
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._imap.logout()
        except (OSError, imaplib.IMAP4.error):
            self._imap.shutdown()

    def unseen(self) -> list[bytes]:
        """The UIDs of the folder's unseen mails, oldest first."""
        data = _ok(self._imap.uid("SEARCH", None, "UNSEEN"), "SEARCH UNSEEN")
        return sorted((data[0] or b"").split(), key=int)

    def size(self, uid: bytes) -> int:
        data = _ok(self._imap.uid("FETCH", uid, "(RFC822.SIZE)"), "FETCH RFC822.SIZE")
        found = re.search(rb"RFC822\.SIZE (\d+)", data[0] or b"")
        return int(found.group(1)) if found else 0

    def fetch(self, uid: bytes) -> Optional[bytes]:
        """The whole mail, left unseen (BODY.PEEK); None when it is gone (expunged meanwhile)."""
        data = _ok(self._imap.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH BODY.PEEK[]")
        return next((item[1] for item in data if isinstance(item, tuple)), None)

    def mark(self, uid: bytes, *flags: str) -> None:
        _ok(self._imap.uid("STORE", uid, "+FLAGS", f"({' '.join(flags)})"), "STORE +FLAGS")


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
