"""A real IMAP server for the tests: Debian's Dovecot, started on loopback in a temp dir."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "secret-for-tests"


def available() -> bool:
    return os.path.exists(DOVECOT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int) -> str:
    # Dovecot never runs a mailbox as uid 0: as root, mail belongs to nobody.
    uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
    unprivileged = ""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid()).pw_name
        unprivileged = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
{unprivileged}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def dovecot() -> Iterator[int]:
    """Run Dovecot with one user (USER, PASSWORD) until the block ends; yields its IMAP port."""
    root = Path(tempfile.mkdtemp(prefix="mailer-dovecot-", dir="/tmp"))
    root.chmod(0o755)
    (root / "mail").mkdir(mode=0o777)
    (root / "mail").chmod(0o777)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = _free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = root / "dovecot.log"
                    raise RuntimeError(
                        "Dovecot did not start: " + (log.read_text() if log.exists() else "")
                    ) from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(root, ignore_errors=True)
