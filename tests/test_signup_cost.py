"""What one sign-up costs the database, and that the cheaper path keeps every promise.

The burst benchmark (bench/signup_load.py) is bounded by the CPU a sign-up takes, most of it
the round trips to the database: these tests hold the statement counts down and check that
the short paths change nothing that the per-address cap or the form's checks decide.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from mailer import ROOT, create_app
from mailer.extensions import db
from mailer.models import (
    AddressMail,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash
from mailer.subscriptions import address_cap, service
from tests.conftest import csrf_token


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "1000 per minute"}


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends meanwhile (not the pool's pings, not BEGIN/COMMIT)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def post_signup(client: FlaskClient, email: str, lists: str = "weekly") -> Any:
    page = client.get("/subscribe")
    data = {
        "email": email,
        "lists": lists,
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page.get_data(as_text=True)),
    }
    return client.post("/subscribe", data=data)


def test_a_new_address_costs_a_few_statements(app: Flask, client: FlaskClient) -> None:
    post_signup(client, "first@example.org")  # the lists are read once per few seconds
    page = client.get("/subscribe")
    data = {
        "email": "reader@example.org",
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page.get_data(as_text=True)),
    }
    with statements(app) as seen:
        response = client.post("/subscribe", data=data)
    assert response.status_code == 303
    # One lookup (suppression, subscriber, cap slots); then on PostgreSQL one statement
    # inserting the subscriber, its subscription, consent record and cap slot; on SQLite four.
    postgres = app.config["DATABASE_URL"].startswith("postgres")
    assert len(seen) <= (2 if postgres else 5), seen
    assert not any(s.startswith(("UPDATE", "SAVEPOINT")) for s in seen), seen
    with app.app_context():
        subscriber = db.session.scalar(
            select(Subscriber).where(Subscriber.email == "reader@example.org")
        )
        assert subscriber is not None
        assert subscriber.confirm_requested_at is not None
        assert subscriber.confirm_queued_at is not None
        assert subscriber.pending_language == "en" and subscriber.pending_name is None
        assert [s.status for s in subscriber.subscriptions] == [SubscriptionStatus.pending]
        assert [c.action for c in subscriber.consents] == ["signup"]
        assert subscriber.consents[0].lists == "weekly"


def test_a_known_address_costs_no_more_statements(app: Flask, client: FlaskClient) -> None:
    post_signup(client, "reader@example.org")
    with app.app_context():
        for sub in db.session.scalars(select(Subscription)):
            sub.status = SubscriptionStatus.confirmed
        db.session.commit()
    page = client.get("/subscribe")
    data = {
        "email": "reader@example.org",
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page.get_data(as_text=True)),
    }
    with statements(app) as seen:
        assert client.post("/subscribe", data=data).status_code == 303
    # One lookup: suppression, subscriber, confirmed, cap slots (1 per day: full). A full cap
    # stays full, so no row lock and no second count.
    assert len(seen) == 1, seen


def test_the_form_reads_the_lists_once_for_many_requests(app: Flask, client: FlaskClient) -> None:
    with statements(app) as seen:
        for n in range(5):
            assert client.get("/subscribe").status_code == 200
            post_signup(client, f"reader{n}@example.org")
    assert sum("FROM mailing_list" in s for s in seen) == 1, seen


def test_a_list_made_private_leaves_the_form_at_once(app: Flask, client: FlaskClient) -> None:
    assert 'value="alerts"' in client.get("/subscribe").get_data(as_text=True)
    with app.app_context():
        alerts = db.session.scalar(select(MailingList).where(MailingList.slug == "alerts"))
        assert alerts is not None
        alerts.is_public = False
        db.session.commit()
    assert 'value="alerts"' not in client.get("/subscribe").get_data(as_text=True)
    response = post_signup(client, "reader@example.org", lists="alerts")
    assert response.status_code == 422
    assert "There is no public list called" in response.get_data(as_text=True)
    with app.app_context():
        db.session.add(MailingList(slug="local", name="Local news"))
        db.session.commit()
    assert 'value="local"' in client.get("/subscribe").get_data(as_text=True)


def test_a_new_address_the_cap_holds_back_leaves_nothing(app: Flask) -> None:
    """The address's slots were taken before (e.g. by a sign-up that retention has purged)."""
    email = "victim@example.org"
    with app.app_context():
        assert address_cap.take_slot(address_hash(email), address_cap.SIGNUP)
        db.session.commit()
        signup = service.subscribe(email, lists=service.lists_by_slug(["weekly"]))
        db.session.commit()
        assert signup.outcome is service.SignupOutcome.nothing
        assert signup.subscriber_id is None
        for model in (Subscriber, Subscription, ConsentRecord):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
        assert db.session.scalar(select(func.count(AddressMail.id))) == 1


def test_the_cap_counts_every_window(app: Flask) -> None:
    """3 per 30 days holds even when the day's window has room again."""
    app.config["RATELIMIT_SIGNUP_ADDRESS"] = "1 per day;3 per 30 days"
    with app.app_context():
        digest = address_hash("reader@example.org")
        for days_ago in (20, 10, 5):
            db.session.add(
                AddressMail(
                    address_hash=digest,
                    kind=address_cap.SIGNUP,
                    created_at=service.utcnow() - service.timedelta(days=days_ago),
                )
            )
        db.session.commit()
        assert not address_cap.take_slot(digest, address_cap.SIGNUP)
        app.config["RATELIMIT_SIGNUP_ADDRESS"] = "1 per day;4 per 30 days"
        assert address_cap.take_slot(digest, address_cap.SIGNUP)
        assert not address_cap.take_slot(digest, address_cap.SIGNUP)  # the day's one is used


def test_the_pool_keeps_a_connection_per_thread(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn.conf.py keeps a connection for each thread that can be working (at most 32:
    threads asleep in the floor hold none), so a burst opens none; and threads enough to hold
    a burst's answers through the floor at its maximum (1 s): 100 a second per worker."""
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_POOL_SIZE", "WEB_THREADS")
    }
    monkeypatch.setattr(os, "environ", environ)  # what the config file sets stays here
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert os.environ["DATABASE_POOL_SIZE"] == str(min(settings["threads"], 32)) == "32"
    assert settings["threads"] / app.config["SIGNUP_MAX_DURATION"] >= 100  # per worker, per s
    sized = create_app({**app.config, "DATABASE_POOL_SIZE": 24})
    with sized.app_context():
        assert db.engine.pool.size() == 24  # type: ignore[attr-defined]
        db.engine.dispose()
