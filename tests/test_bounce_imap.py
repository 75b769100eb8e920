"""The bounce mailbox poller against a real IMAP server (Dovecot) on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from mailer import tasks
from mailer.bounces import imap
from mailer.extensions import db
from mailer.models import BounceEvent, InboundMessage, SuppressionReason
from tests import dovecot
from tests.bounce_helpers import HARD, bounce, sent_digest, suppression

pytestmark = pytest.mark.skipif(
    not dovecot.available(), reason="needs Dovecot (apt-get install dovecot-imapd)"
)


@pytest.fixture(scope="module")
def imap_port() -> Iterator[int]:
    with dovecot.dovecot() as port:
        yield port


@pytest.fixture
def mailbox(imap_port: int) -> Iterator[IMAPClient]:
    """A test-side IMAP connection to an empty INBOX (and an empty "Stored" folder)."""
    client = IMAPClient("127.0.0.1", port=imap_port, ssl=False, timeout=10)
    client.login(dovecot.USER, dovecot.PASSWORD)
    if not client.folder_exists("Stored"):
        client.create_folder("Stored")
    for folder in ("INBOX", "Stored"):
        client.select_folder(folder)
        uids = client.search(["ALL"])
        if uids:
            client.delete_messages(uids)
            client.expunge()
    try:
        yield client
    finally:
        client.logout()


@pytest.fixture
def config_overrides(imap_port: int) -> dict[str, object]:
    url = f"imap://{dovecot.USER}:{dovecot.PASSWORD}@127.0.0.1:{imap_port}/INBOX?starttls=off"
    return {"BOUNCE_IMAP_URL": url, "BOUNCE_MAX_BYTES": 64 * 1024}


def count(mailbox: IMAPClient, folder: str = "INBOX") -> int:
    mailbox.select_folder(folder)
    return len(mailbox.search(["UNDELETED"]))


def rows(app: Flask, model: type[InboundMessage] | type[BounceEvent]) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(model.id))) or 0)


def test_the_poller_stores_removes_and_processes_every_message(
    app: Flask, mailbox: IMAPClient
) -> None:
    verps = sent_digest(app, n=6)
    readers = sorted(verps)
    cases = [(name, SuppressionReason.hard_bounce) for name in HARD] + [
        ("arf_complaint.eml", SuppressionReason.complaint),
        ("auto_reply.eml", None),
    ]
    for (name, _), reader in zip(cases, readers, strict=True):
        mailbox.append("INBOX", bounce(name, verps[reader], reader))
    with app.app_context():
        assert tasks.poll_bounce_mailbox() == len(cases)
    for (name, reason), reader in zip(cases, readers, strict=True):
        assert suppression(app, reader) == reason, name
    assert count(mailbox) == 0
    assert rows(app, BounceEvent) == len(cases)
    with app.app_context():  # polled again: nothing new
        assert tasks.poll_bounce_mailbox() == 0


def test_stored_messages_can_be_moved_instead_of_deleted(
    app: Flask, mailbox: IMAPClient, config_overrides: dict[str, object]
) -> None:
    verps = sent_digest(app, n=1)
    reader, verp = next(iter(verps.items()))
    mailbox.append("INBOX", bounce("postfix_hard.eml", verp, reader))
    with app.app_context():
        settings = imap.parse_url(f"{config_overrides['BOUNCE_IMAP_URL']}&move_to=Stored")
        report = imap.poll(settings, 64 * 1024)
    assert (report.stored, report.processed) == (1, 1)
    assert count(mailbox) == 0 and count(mailbox, "Stored") == 1


def test_a_message_is_removed_only_once_it_is_stored(
    app: Flask, mailbox: IMAPClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    verps = sent_digest(app, n=1)
    reader, verp = next(iter(verps.items()))
    mailbox.append("INBOX", bounce("gmail_hard.eml", verp, reader))

    def broken(raw: bytes, envelope_to: list[str]) -> InboundMessage:
        raise OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(imap.service, "store", broken)
    with app.app_context(), pytest.raises(OperationalError):
        tasks.poll_bounce_mailbox()
    assert count(mailbox) == 1 and rows(app, InboundMessage) == 0
    monkeypatch.undo()
    with app.app_context():
        assert tasks.poll_bounce_mailbox() == 1
    assert count(mailbox) == 0 and suppression(app, reader) == SuppressionReason.hard_bounce


def test_a_message_over_the_limit_stays_in_the_mailbox_with_a_log_line(
    app: Flask, mailbox: IMAPClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mailer.bounces.imap")
    mailbox.append("INBOX", b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 100)
    with app.app_context():
        assert tasks.poll_bounce_mailbox() == 0
    assert count(mailbox) == 1 and rows(app, InboundMessage) == 0
    assert any("BOUNCE_MAX_BYTES" in r.getMessage() for r in caplog.records)
