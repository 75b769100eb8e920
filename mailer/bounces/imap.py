"""Poll a bounce mailbox over IMAP: store each message (commit), then delete or move it.

A message leaves the mailbox only after its row is committed, so a crash never loses one;
a crash between the commit and the delete stores it twice, and the duplicate is recorded
once (the event's message hash). Messages over BOUNCE_MAX_BYTES stay in the mailbox.
LOGIN sends the password: off loopback it goes only over TLS with a checked certificate.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.bounces import service
from mailer.delivery.smtp_url import is_loopback
from mailer.extensions import db

if TYPE_CHECKING:
    from imapclient import IMAPClient

logger = logging.getLogger(__name__)

BATCH = 20  # messages fetched per round trip
TIMEOUT = 30.0


class ImapUrlError(ValueError):
    """BOUNCE_IMAP_URL is not a usable imap:// or imaps:// URL."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    implicit_tls: bool = True
    starttls: bool = False
    verify: bool = True
    folder: str = "INBOX"
    move_to: str | None = None  # a folder to move stored messages to, instead of deleting

    def __post_init__(self) -> None:
        """LOGIN carries the password: off loopback, only over TLS with a checked certificate."""
        if is_loopback(self.host):
            return
        if not (self.implicit_tls or self.starttls):
            raise ImapUrlError(
                "BOUNCE_IMAP_URL has starttls=off for a host off loopback: the password would"
                " cross the network in plaintext. Remove starttls=off or use imaps://."
            )
        if not self.verify:
            raise ImapUrlError(
                "BOUNCE_IMAP_URL has verify=off for a host off loopback: without a"
                " certificate check a man in the middle would get the password. Remove"
                " verify=off (add a private CA to the system's CA store, or point"
                " SSL_CERT_FILE at it)."
            )


@dataclass
class PollReport:
    stored: int = 0
    too_large: int = 0
    processed: int = 0


def parse_url(url: str) -> ImapSettings:
    """imaps://user:pass@host[:993][/FOLDER][?move_to=F&verify=off] or imap://...?starttls=..."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ImapUrlError("BOUNCE_IMAP_URL must look like imaps://user:password@host/INBOX")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "imaps"
    return ImapSettings(
        host=parts.hostname,
        port=parts.port or (993 if implicit else 143),
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        implicit_tls=implicit,
        starttls=not implicit and query.get("starttls", "require") != "off",
        verify=query.get("verify", "on") != "off",
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        move_to=query.get("move_to") or None,
    )


def _connect(settings: ImapSettings) -> IMAPClient:
    from imapclient import IMAPClient  # imported by the poll, not at every command's start

    context = ssl.create_default_context()
    if not settings.verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.implicit_tls,
        ssl_context=context,
        timeout=TIMEOUT,
    )
    if settings.starttls:
        client.starttls(context)
    client.login(settings.username, settings.password)
    return client


def poll(settings: ImapSettings, max_bytes: int) -> PollReport:
    """Store every message of the folder, remove what was stored, then process it."""
    report = PollReport()
    stored_ids: list[int] = []
    client = _connect(settings)
    try:
        client.select_folder(settings.folder)
        report.too_large = len(client.search(["UNDELETED", "LARGER", str(max_bytes)]))
        if report.too_large:
            logger.warning(
                "bounce mailbox: %d messages over BOUNCE_MAX_BYTES (%d bytes) left in place",
                report.too_large,
                max_bytes,
            )
        uids = client.search(["UNDELETED", "NOT", "LARGER", str(max_bytes)])
        for start in range(0, len(uids), BATCH):
            chunk = uids[start : start + BATCH]
            fetched = client.fetch(chunk, ["BODY.PEEK[]"])
            done = []
            for uid in chunk:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue
                stored_ids.append(service.store(raw, []).id)
                done.append(uid)
            db.session.commit()  # stored before anything leaves the mailbox
            _remove(client, settings, done)
            report.stored += len(done)
    finally:
        client.logout()
    for inbound_id in stored_ids:
        if service.count_attempt(inbound_id):
            db.session.commit()
            service.process_stored(inbound_id)
            db.session.commit()
            report.processed += 1
    return report


def _remove(client: IMAPClient, settings: ImapSettings, uids: list[int]) -> None:
    if not uids:
        return
    if settings.move_to and client.has_capability("MOVE"):
        client.move(uids, settings.move_to)
        return
    if settings.move_to:
        client.copy(uids, settings.move_to)
    client.delete_messages(uids)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()
