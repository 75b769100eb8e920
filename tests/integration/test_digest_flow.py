"""A digest sent on real parts: the CLI and the admin hand it to a real worker over Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash
from tests.conftest import SmtpServer, csrf_token
from tests.integration.conftest import Worker


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"DELIVERY_BATCH_SIZE": 7}


def seed(app: Flask, subscribers: int) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        for i in range(subscribers):
            email = f"reader{i}@example.org"
            subscriber = Subscriber(email=email, address_hash=address_hash(email))
            subscriber.subscriptions.append(
                Subscription(mailing_list=weekly, status=SubscriptionStatus.confirmed)
            )
            db.session.add(subscriber)
        now = datetime.now(UTC)
        for i in range(3):
            db.session.add(
                Article(
                    guid=f"story-{i}",
                    link=f"https://news.example.org/story-{i}",
                    title=f"Story number {i}",
                    summary=f"What happened in story {i}.",
                    published_at=now - timedelta(hours=i + 1),
                )
            )
        db.session.commit()


def wait_until_sent(app: Flask, timeout: float = 30) -> Digest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            digest = db.session.scalars(select(Digest).order_by(Digest.id.desc())).first()
            if digest is not None and digest.status == DigestStatus.sent:
                return digest
        time.sleep(0.2)
    raise AssertionError("the digest was not sent in time")


def test_cli_digest_send_reaches_every_subscriber_exactly_once(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    seed(live_app, 30)
    runner = live_app.test_cli_runner()
    dry = runner.invoke(args=["digest", "send", "--list", "weekly", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 articles for 30 confirmed subscribers" in dry.output
    with live_app.app_context():
        assert db.session.scalar(select(Digest.id)) is None  # a dry run writes nothing

    result = runner.invoke(args=["digest", "send", "--list", "weekly"])
    assert result.exit_code == 0, result.output + celery_worker.output()[-3000:]
    assert "sent 30, failed 0" in result.output
    received = smtp_server.wait_for(30)
    time.sleep(0.5)  # anything extra would have arrived by now
    assert len(smtp_server.received) == 30
    rcpts = sorted(r.rcpt_tos[0] for r in received)
    assert rcpts == sorted(f"reader{i}@example.org" for i in range(30))
    message = received[0].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(("plain",))
    assert body is not None and "Story number 0" in body.get_content()
    digest = wait_until_sent(live_app)
    with live_app.app_context():
        statuses = db.session.scalars(
            select(Delivery.status).where(Delivery.digest_id == digest.id)
        ).all()
        assert statuses == [DeliveryStatus.sent] * 30

    # Nothing new since: a second send sends nothing.
    again = runner.invoke(args=["digest", "send", "--list", "weekly"])
    assert again.exit_code == 0 and "nothing to send" in again.output


def test_admin_send_now_and_progress(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    seed(live_app, 12)
    with live_app.app_context():
        create_editor("editor@example.org", "correct horse battery staple")
        db.session.commit()
    client = live_app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    client.post(
        "/admin/login",
        data={
            "email": "editor@example.org",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(page),
        },
    )
    page = client.get("/admin/digests").get_data(as_text=True)
    created = client.post(
        "/admin/digests/new", data={"list": "weekly", "csrf_token": csrf_token(page)}
    )
    assert created.status_code == 303
    url = created.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Send now to 12 subscribers" in page
    sent = client.post(f"{url}/send", data={"csrf_token": csrf_token(page)})
    assert sent.status_code == 303
    smtp_server.wait_for(12)
    digest = wait_until_sent(live_app)
    progress = client.get(f"/admin/digests/{digest.id}/progress.json").get_json()
    assert progress["status"] == "sent"
    assert (progress["sent"], progress["remaining"], progress["failed"]) == (12, 0, 0)
    # A sent digest can no longer be sent again or edited.
    page = client.get(url).get_data(as_text=True)
    again = client.post(f"{url}/send", data={"csrf_token": csrf_token(page)})
    assert again.status_code == 409
    time.sleep(0.5)
    assert len(smtp_server.received) == 12
