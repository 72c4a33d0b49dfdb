"""Debian's Dovecot as a test IMAP server: on a free loopback port, with its own configuration,
one passwd-file user and a maildir in a temporary folder (never the system service). Plain
IMAP on loopback (``ssl = no``). In CI (``CI=true``) a missing dovecot fails the tests:
.ci/run installs dovecot-imapd."""
from __future__ import annotations

import getpass
import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import haproxy
from bench.haproxy import wait_for_port
from conftest import free_port
from proxies import require

# Started as root, Dovecot runs its login and mail processes as this user.
UNPRIVILEGED_USER = "nobody"


class Dovecot:
    def __init__(self) -> None:
        binary = require("dovecot", "dovecot-imapd", "the IMAP reply tests")
        self.port = free_port()
        self.username, self.password = "replies", secrets.token_urlsafe(12)
        # Its own folder under /tmp: pytest's are private to root, and Dovecot's processes are not.
        folder = self.folder = Path(tempfile.mkdtemp(prefix="planerix-dovecot-"))
        folder.chmod(0o755)
        mail = folder / "mail"
        mail.mkdir()
        user = UNPRIVILEGED_USER if os.getuid() == 0 else getpass.getuser()
        entry = pwd.getpwnam(user)
        group = grp.getgrgid(entry.pw_gid).gr_name
        os.chown(mail, entry.pw_uid, entry.pw_gid)
        (folder / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        self.log = folder / "dovecot.log"
        config = folder / "dovecot.conf"
        config.write_text(f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {folder}/users
}}
userdb {{
  driver = static
  args = uid={entry.pw_uid} gid={entry.pw_gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        # Infrastructure, not under test: on the real clock (.ci/clock-ahead preloads libfaketime).
        real_clock = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        self.process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, env=real_clock)
        wait_for_port(self.port, self.process, self.log)

    def email_config(self, poll_seconds: float = 3600) -> dict[str, str]:
        """The ``[email]`` options of a server polling this mailbox."""
        return {"imap_host": "127.0.0.1", "imap_port": str(self.port), "imap_security": "none",
                "imap_username": self.username, "imap_password": self.password,
                "imap_poll_seconds": str(poll_seconds)}

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(self.username, self.password)
        imap.select("INBOX")
        return imap

    def append(self, raw: bytes) -> int:
        """Deliver a mail into INBOX (unseen); its UID."""
        imap = self.client()
        try:
            status, data = imap.append("INBOX", None, None, raw)
            assert status == "OK", data
            return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        finally:
            imap.logout()

    def flags(self, uid: int) -> set[str]:
        imap = self.client()
        try:
            status, data = imap.uid("FETCH", str(uid), "(FLAGS)")
            assert status == "OK", data
            found = re.search(rb"FLAGS \(([^)]*)\)", data[0])
            return set(found.group(1).decode().split()) if found else set()
        finally:
            imap.logout()

    def stop(self) -> None:
        haproxy.stop_process(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)
