"""A subscriber's whole life through the real parts, for the privacy tests.

Sign-up on the form (test client), the confirmation mail over SMTP to an aiosmtpd server in
this process (SMTPUTF8 on, so internationalised addresses go out), the link in it followed,
digests delivered or refused by that server, bounces, a complaint and an unsubscribe mail
handed to the real bounce receiver over LMTP, a Mailgun webhook event, then erase.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.bounces.receiver import BounceController
from mailer.digests import service as digests
from mailer.extensions import db
from mailer.models import Article, Delivery, MailingList, Subscriber
from mailer.subscriptions import service
from mailer.tasks import send_confirmation
from mailer.verp import verp_address
from tests.bounce_helpers import bounce
from tests.conftest import _free_port, csrf_token
from tests.test_sending import send_all, start

MAILGUN_KEY = "key-for-the-privacy-tests"


@dataclass
class Mailbox:
    """aiosmtpd handler: records messages; refuses RCPT for `refused` echoing the address."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.casefold() in {a.casefold() for a in self.refused}:
            local = address.partition("@")[0]
            return f"550 5.1.1 <{address}>: Recipient address rejected: {local}... User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            raws = [raw for rcpts, raw in self.received if address in rcpts]
        return [message_from_bytes(raw, policy=policy.default) for raw in raws]  # type: ignore[misc]


@contextmanager
def mail_server() -> Iterator[tuple[Mailbox, str]]:
    """An SMTPUTF8 SMTP server on loopback: (its handler, its SMTP_URL)."""
    handler, port = Mailbox(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}?starttls=off"
    finally:
        controller.stop()


@contextmanager
def bounce_receiver(app: Flask) -> Iterator[int]:
    """The real bounce receiver (LMTP) on loopback: its port."""
    port = _free_port()
    controller = BounceController(app, "127.0.0.1", port, lmtp=True)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def config(smtp_url: str) -> dict[str, Any]:
    return {
        "SMTP_URL": smtp_url,
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "RATELIMIT_ENABLED": True,  # its Redis keys are part of what is checked
        "RATELIMIT_SIGNUP_IP": "1000 per minute",
    }


def sign_up(client: FlaskClient, address: str, name: str) -> int:
    """Post the sign-up form as a browser does; the answer's status."""
    page = client.get("/subscribe")
    response = client.post(
        "/subscribe",
        data={
            "email": address,
            "name": name,
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    return response.status_code


def subscriber_id(app: Flask) -> int:
    with app.app_context():
        ids = db.session.scalars(select(Subscriber.id)).all()
        assert len(ids) == 1
        return ids[0]


def confirm(app: Flask, client: FlaskClient, mailbox: Mailbox, address: str) -> None:
    """Run the confirmation task, then follow the link of the mail it sent (GET, then POST)."""
    with app.app_context():
        send_confirmation(subscriber_id(app))
    (message,) = mailbox.messages_to(address)
    body = message.get_body(("plain",))
    assert body is not None
    path = re.findall(r"http://localhost(/confirm/\S+)", body.get_content())[0]
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code in (200, 302, 303)


_articles = iter(range(1, 1000))


def new_digest(app: Flask) -> int:
    """A new digest of the weekly list (not started)."""
    n = next(_articles)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        article = Article(
            guid=f"life-{n}-{uuid.uuid4().hex}",
            link=f"https://news.example.org/life-{uuid.uuid4().hex}",
            title="A poet walks free",
            summary="Released after two years.",
            published_at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        digest_id = digests.create_digest(weekly, [article], subject=f"Week {n}").id
        db.session.commit()
        return digest_id


def delivery_of(app: Flask, digest_id: int) -> int:
    """The delivery id of the one reader of a started digest."""
    with app.app_context():
        delivery = db.session.scalar(select(Delivery).where(Delivery.digest_id == digest_id))
        assert delivery is not None
        return delivery.id


def digest(app: Flask) -> int:
    """Send a digest of the weekly list; the delivery id of the one reader."""
    digest_id = new_digest(app)
    start(app, digest_id)
    send_all(app, digest_id)
    return delivery_of(app, digest_id)


def mailto_of(message: EmailMessage) -> str:
    match = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", message["List-Unsubscribe"])
    assert match, message["List-Unsubscribe"]
    return match.group(1)


def to_receiver(port: int, raw: bytes, rcpt: str) -> None:
    """Hand one message to the bounce receiver over LMTP, as an MTA does."""
    with smtplib.LMTP("127.0.0.1", port, timeout=10) as conn:
        assert conn.sendmail("", [rcpt], raw) == {}


def bounce_of(app: Flask, name: str, delivery_id: int, address: str, msgid: str) -> bytes:
    with app.app_context():
        verp = verp_address(delivery_id)
    return bounce(name, verp, address, msgid)


def mailgun_event(app: Flask, delivery_id: int, address: str) -> dict[str, Any]:
    """A signed Mailgun "failed" event naming the reader, as Mailgun posts it."""
    with app.app_context():
        verp = verp_address(delivery_id)
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    data = {
        "id": uuid.uuid4().hex,
        "event": "failed",
        "severity": "temporary",
        "reason": "generic",
        "recipient": address,
        "envelope": {"sender": verp, "targets": address, "transport": "smtp"},
        "delivery-status": {
            "code": 452,
            "enhanced-code": "4.2.2",
            "message": f"<{address}>: mailbox full",
            "description": f"The mailbox of {address} is full",
        },
        "message": {"headers": {"to": address, "message-id": "x@example.org"}},
    }
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()},
        "event-data": data,
    }


def erase(app: Flask) -> None:
    """Erase, through the service every erase path calls (its trigger is another part)."""
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id(app))
        assert subscriber is not None
        service.erase(subscriber)
        db.session.commit()
