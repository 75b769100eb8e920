"""The whole subscriber path on real parts: a Celery worker process, Redis, an SMTP server."""

from __future__ import annotations

import re
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Subscriber, Subscription
from tests.conftest import SmtpServer, csrf_token
from tests.integration.conftest import Worker


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link(msg: EmailMessage, kind: str) -> str:
    found = re.findall(rf"http://localhost(/{kind}/\S+)", text_of(msg))
    assert found, f"no /{kind}/ link in the message"
    return found[0]


def statuses(app: Flask) -> dict[str, str]:
    with app.app_context():
        rows = db.session.scalars(select(Subscription)).all()
        return {s.mailing_list.slug: s.status.value for s in rows}


def test_sign_up_confirm_change_preferences_one_click_unsubscribe(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    client: FlaskClient = live_app.test_client()
    page = client.get("/subscribe").get_data(as_text=True)
    response = client.post(
        "/subscribe",
        data={
            "email": "Journalist@Example.org",
            "name": "Ada",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": csrf_token(page),
        },
    )
    assert response.status_code == 303

    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["journalist@example.org"]
    msg = received.message
    assert msg["Subject"] == "Confirm your subscription to The Free Expression Network"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["From"] == "Weekly updates <newsletter@example.org>"
    confirm_url = link(msg, "confirm")

    page = client.get(confirm_url)
    assert page.status_code == 200
    assert statuses(live_app) == {"weekly": "pending"}
    done = client.post(confirm_url, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 200
    assert statuses(live_app) == {"weekly": "confirmed"}
    prefs_url = re.search(r'href="(/preferences/[^"]+)"', done.get_data(as_text=True))
    assert prefs_url

    prefs = client.get(prefs_url.group(1)).get_data(as_text=True)
    with live_app.app_context():
        alerts = next(lst.id for lst in db.session.scalars(select(Subscription)).all()[:1]) + 1
    client.post(
        prefs_url.group(1),
        data={
            "csrf_token": csrf_token(prefs),
            "lists": [str(alerts - 1), str(alerts)],
            "language": "en",
            "name": "Ada L.",
        },
    )
    assert statuses(live_app) == {"weekly": "confirmed", "alerts": "confirmed"}

    # Signing up again: the worker sends "already subscribed", with a one-click unsubscribe link.
    page = client.get("/subscribe").get_data(as_text=True)
    client.post(
        "/subscribe",
        data={
            "email": "journalist@example.org",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": csrf_token(page),
        },
    )
    second = smtp_server.wait_for(2)[1].message
    assert second["Subject"] == "You are already subscribed to The Free Expression Network"
    unsubscribe_url = link(second, "unsubscribe")
    bare = live_app.test_client(use_cookies=False)
    one_click = bare.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert statuses(live_app) == {"weekly": "unsubscribed", "alerts": "unsubscribed"}
    with live_app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None and sub.confirm_sent_at is not None
    assert "journalist@example.org" not in celery_worker.output().lower()


def test_the_sweeper_sends_what_was_never_queued(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    from datetime import timedelta

    from mailer.models import utcnow
    from mailer.subscriptions import service
    from mailer.tasks import sweep_confirmations

    with live_app.app_context():
        signup = service.subscribe("lost@example.org", lists=service.lists_by_slug(["weekly"]))
        assert signup.subscriber_id is not None
        service.mark_not_queued(signup.subscriber_id)  # as if Redis was down at sign-up
        sub = db.session.get(Subscriber, signup.subscriber_id)
        assert sub is not None
        sub.confirm_requested_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert sweep_confirmations() == 1
        assert sweep_confirmations() == 0  # queued now: not again
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["lost@example.org"]
