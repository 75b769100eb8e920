"""The bounce mailbox poller against a real IMAP server (Dovecot) on loopback."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from mailer import tasks
from mailer.bounces import imap
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    InboundMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from tests import dovecot
from tests.bounce_helpers import HARD, bounce, sent_digest, suppression
from tests.conftest import SmtpServer

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


def _mailto_of(smtp_server: SmtpServer, reader: str) -> str:
    message = next(r.message for r in smtp_server.received if r.rcpt_tos == [reader])
    match = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", message["List-Unsubscribe"])
    assert match, message["List-Unsubscribe"]
    return match.group(1)


def _request(headers: str) -> bytes:
    """A reader's unsubscribe mail as a mail client writes it, as the mailbox stores it."""
    return (
        f"{headers}From: A reader <reader@example.net>\r\nSubject: unsubscribe\r\n"
        "Message-ID: <req-1@example.net>\r\n\r\nPlease stop.\r\n"
    ).encode()


def test_a_mail_to_the_list_unsubscribe_address_over_imap_unsubscribes_that_reader(
    app: Flask, mailbox: IMAPClient, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    verps = sent_digest(app, n=3)
    smtp_server.wait_for(3)
    readers = sorted(verps)
    to, delivered, original = (_mailto_of(smtp_server, reader) for reader in readers)
    forged = re.sub(r"\.([0-9a-f]{12})@", ".000000000000@", to)
    # As MUAs and MTAs write it: the address in To:, or only in Delivered-To / X-Original-To
    # (Bcc, or an alias), next to the mailbox's own address; one forged signature.
    mailbox.append("INBOX", _request(f"Delivered-To: bounces@example.org\r\nTo: <{to}>\r\n"))
    mailbox.append("INBOX", _request(f"Delivered-To: {delivered}\r\nTo: list@example.org\r\n"))
    mailbox.append("INBOX", _request(f"X-Original-To: {original}\r\n"))
    mailbox.append("INBOX", _request(f"To: {forged}\r\n"))
    with app.app_context():
        assert tasks.poll_bounce_mailbox() == 4
    assert count(mailbox) == 0
    with app.app_context():
        rows_ = db.session.execute(
            select(Subscriber.email, Subscription.status).join(Subscription)
        ).all()
    assert dict(rows_) == {reader: SubscriptionStatus.unsubscribed for reader in readers}
    with app.app_context():  # the forged one: recorded as an unattributed event, nothing more
        events = db.session.scalars(select(BounceEvent)).all()
        assert [e.attributed for e in events] == [False]


def test_a_forged_unsubscribe_mail_over_imap_changes_nothing(
    app: Flask, mailbox: IMAPClient, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    verps = sent_digest(app, n=1)
    smtp_server.wait_for(1)
    to = _mailto_of(smtp_server, next(iter(verps)))
    local, _, domain = to.partition("@")
    token_id = re.search(r"\+u(\d+)\.", local)
    assert token_id
    other = to.replace(f"+u{token_id.group(1)}.", f"+u{int(token_id.group(1)) + 1}.")
    mailbox.append("INBOX", _request(f"To: <{other}>\r\n"))
    with app.app_context():
        assert tasks.poll_bounce_mailbox() == 1
        statuses = set(db.session.scalars(select(Subscription.status)))
    assert statuses == {SubscriptionStatus.confirmed}
