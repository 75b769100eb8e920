"""Helpers for the bounce tests: real deliveries, and bounce mail written for the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from mailer.digests import service as digests
from mailer.extensions import db
from mailer.models import (
    Article,
    Delivery,
    MailingList,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from mailer.privacy import address_hash
from mailer.verp import verp_address
from tests.test_sending import add_subscribers, make_digest, send_all, start


def next_digest(app: Flask) -> int:
    """Another digest of the weekly list (make_digest's article exists already)."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        article = Article(
            guid="a2",
            link="https://news.example.org/a2",
            title="Translators organise",
            summary="A network for exiled translators.",
            published_at=datetime(2026, 11, 27, tzinfo=UTC),
        )
        digest = digests.create_digest(weekly, [article], subject="Next week")
        db.session.commit()
        return digest.id


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bounces"
HARD = ["postfix_hard.eml", "exim_hard.eml", "gmail_hard.eml", "microsoft_hard.eml"]


def bounce(name: str, verp: str, rcpt: str, msgid: str = "m1") -> bytes:
    """A fixture with its placeholders filled, with CRLF line ends as SMTP carries them."""
    raw = (FIXTURES / name).read_bytes()
    for key, value in ((b"{{VERP}}", verp), (b"{{RCPT}}", rcpt), (b"{{MSGID}}", msgid)):
        raw = raw.replace(key, value.encode())
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sent_digest(app: Flask, n: int = 3, start_at: int = 0) -> dict[str, str]:
    """Send a digest to n new confirmed subscribers; {address: the VERP of its delivery}."""
    add_subscribers(app, n, start=start_at)
    digest_id = make_digest(app)
    start(app, digest_id)
    send_all(app, digest_id)
    with app.app_context():
        rows = db.session.execute(
            select(Subscriber.email, Delivery.id)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.digest_id == digest_id)
        ).all()
        return {email: verp_address(delivery_id) for email, delivery_id in rows}


def suppression(app: Flask, email: str) -> SuppressionReason | None:
    with app.app_context():
        row = db.session.scalar(
            select(Suppression).where(Suppression.address_hash == address_hash(email))
        )
        return row.reason if row is not None else None
