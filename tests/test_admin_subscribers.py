"""Admin: subscribers (search, filter, paging, one subscriber's history, unsubscribe, erase)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.admin.auth import create_editor
from mailer.bounces import service as bounces
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from mailer.privacy import address_hash
from tests.bounce_helpers import bounce, sent_digest, suppression
from tests.test_admin import PASSWORD, login, post
from tests.test_sending import add_subscribers


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def add(app: Flask, email: str, name: str | None, **lists: SubscriptionStatus) -> int:
    """A subscriber with a subscription per list slug given, in the given status."""
    with app.app_context():
        subscriber = Subscriber(email=email, address_hash=address_hash(email), name=name)
        for slug, status in lists.items():
            mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
            subscriber.subscriptions.append(Subscription(mailing_list=mailing_list, status=status))
        db.session.add(subscriber)
        db.session.commit()
        return subscriber.id


@pytest.mark.parametrize("path", ["/admin/subscribers", "/admin/subscribers/1"])
def test_the_pages_need_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_logged_out_posts_change_nothing(app: Flask, client: FlaskClient) -> None:
    sid = add(app, "amira@example.org", "Amira", weekly=SubscriptionStatus.confirmed)
    for action in ("unsubscribe", "erase"):
        response = client.post(f"/admin/subscribers/{sid}/{action}")
        assert response.status_code in (302, 400)
    with app.app_context():
        subscriber = db.session.get(Subscriber, sid)
        assert subscriber is not None
        assert subscriber.subscriptions[0].status == SubscriptionStatus.confirmed


def search(admin: FlaskClient, q: str, **filters: str) -> str:
    """Post the search form; the URL it leads to (which must not hold the text)."""
    response = post(admin, "/admin/subscribers/search", {"q": q, **filters}, "/admin/subscribers")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "q=" not in location and (not q.strip() or q.strip().lower() not in location.lower())
    return location


def test_search_and_filter(app: Flask, admin: FlaskClient) -> None:
    confirmed, pending = SubscriptionStatus.confirmed, SubscriptionStatus.pending
    add(app, "amira@example.org", "Amira Haddad", weekly=confirmed, alerts=pending)
    add(app, "bo@example.net", "Bo Chen", alerts=confirmed)
    add(app, "carla@example.org", None, weekly=SubscriptionStatus.unsubscribed)

    def listed(url: str) -> set[str]:
        response = admin.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        return {a for a in ("amira@", "bo@", "carla@") if a in page}

    def shown(q: str, **filters: str) -> set[str]:
        return listed(search(admin, q, **filters))

    assert listed("/admin/subscribers") == {"amira@", "bo@", "carla@"}
    assert shown("EXAMPLE.ORG") == {"amira@", "carla@"}
    assert shown("haddad") == {"amira@"}
    assert listed("/admin/subscribers?list=alerts") == {"amira@", "bo@"}
    assert shown("", status="unsubscribed") == {"carla@"}
    assert search(admin, "", status="unsubscribed") == "/admin/subscribers?status=unsubscribed"
    assert shown("  ", list="alerts", status="pending") == {"amira@"}
    assert shown("bo", list="weekly", status="confirmed") == set()
    assert shown("a" * 500) == set()
    page = admin.get(search(admin, "amira")).get_data(as_text=True)
    assert "weekly (confirmed)" in page and "alerts (pending)" in page and "Amira Haddad" in page
    assert 'value="amira"' in page  # the search box keeps the text, in the page only
    assert admin.get("/admin/subscribers?list=nonsense").status_code == 404
    assert admin.get("/admin/subscribers?status=bogus").status_code == 404


def test_paging(app: Flask, admin: FlaskClient) -> None:
    add_subscribers(app, 51)
    first = admin.get("/admin/subscribers").get_data(as_text=True)
    assert "51 subscribers" in first and "Page 1 of 2" in first
    assert first.count("@example.org</a>") == 50
    second = admin.get("/admin/subscribers?page=2").get_data(as_text=True)
    assert second.count("@example.org</a>") == 1 and "reader0@" in second
    assert admin.get("/admin/subscribers?page=3").status_code == 404
    assert admin.get("/admin/subscribers?page=-1").status_code == 404
    assert admin.get(search(admin, "nobody") + "&page=2").status_code == 404


def test_one_subscriber_shows_subscriptions_consent_and_bounces(
    app: Flask, admin: FlaskClient
) -> None:
    verps = sent_digest(app, n=2)
    reader = "reader0@example.org"
    with app.app_context():
        event = bounces.record(bounce("postfix_hard.eml", verps[reader], reader), [verps[reader]])
        assert event is not None and event.subscriber_id is not None
        sid, digest_id = event.subscriber_id, event.digest_id
        db.session.add(
            ConsentRecord(
                subscriber_id=sid,
                action="signup",
                consent_version="2026-10",
                source="form",
                lists="weekly,alerts",
                ip_hash="abc123",
            )
        )
        db.session.commit()
    page = admin.get(f"/admin/subscribers/{sid}").get_data(as_text=True)
    assert reader in page and "Weekly updates (weekly)" in page
    assert "2026-10" in page and "weekly, alerts" in page and "abc123" in page
    assert "5.1.1" in page and f"<td>{digest_id}</td>" in page and ">hard<" in page
    assert "reader1@" not in page


def test_unsubscribe_from_every_list(
    app: Flask, admin: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    confirmed = SubscriptionStatus.confirmed
    sid = add(app, "amira@example.org", "Amira", weekly=confirmed, members=confirmed)
    url = f"/admin/subscribers/{sid}"
    with caplog.at_level(logging.INFO):
        response = post(admin, f"{url}/unsubscribe", page=url)
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    with app.app_context():
        subscriber = db.session.get(Subscriber, sid)
        assert subscriber is not None
        assert {s.status for s in subscriber.subscriptions} == {SubscriptionStatus.unsubscribed}
        assert all(s.unsubscribed_at is not None for s in subscriber.subscriptions)
    assert "Unsubscribed from every list." in admin.get(url).get_data(as_text=True)
    assert "amira" not in caplog.text.lower()


def test_erase_keeps_only_the_suppression_hash(
    app: Flask, admin: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    verps = sent_digest(app, n=1)
    reader = "reader0@example.org"
    with app.app_context():
        event = bounces.record(bounce("postfix_soft.eml", verps[reader], reader), [verps[reader]])
        assert event is not None and event.subscriber_id is not None
        sid, event_id = event.subscriber_id, event.id
        db.session.add(
            ConsentRecord(subscriber_id=sid, action="signup", consent_version="v1", source="form")
        )
        db.session.commit()
    url = f"/admin/subscribers/{sid}"
    with caplog.at_level(logging.INFO):
        response = post(admin, f"{url}/erase", page=url)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/subscribers")
    assert f"Subscriber {sid} erased" in admin.get("/admin/subscribers").get_data(as_text=True)
    assert admin.get(url).status_code == 404
    assert suppression(app, reader) == SuppressionReason.erased
    with app.app_context():
        assert db.session.scalar(select(Subscriber).where(Subscriber.email == reader)) is None
        assert db.session.scalars(select(ConsentRecord)).all() == []
        kept = db.session.get(BounceEvent, event_id)
        assert kept is not None and kept.subscriber_id is None
    assert "reader0" not in caplog.text


def test_unknown_subscriber_is_404(admin: FlaskClient) -> None:
    assert admin.get("/admin/subscribers/999").status_code == 404
    for action in ("unsubscribe", "erase"):
        response = post(admin, f"/admin/subscribers/999/{action}", page="/admin/subscribers")
        assert response.status_code == 404


def test_posts_without_csrf_are_refused(app: Flask, admin: FlaskClient) -> None:
    sid = add(app, "amira@example.org", "Amira", weekly=SubscriptionStatus.confirmed)
    for action in ("unsubscribe", "erase"):
        assert admin.post(f"/admin/subscribers/{sid}/{action}").status_code == 400
        bad = admin.post(f"/admin/subscribers/{sid}/{action}", data={"csrf_token": "forged"})
        assert bad.status_code == 400
    with app.app_context():
        subscriber = db.session.get(Subscriber, sid)
        assert subscriber is not None
        assert subscriber.subscriptions[0].status == SubscriptionStatus.confirmed


def test_search_takes_percent_and_underscore_literally(app: Flask, admin: FlaskClient) -> None:
    confirmed = SubscriptionStatus.confirmed
    add(app, "a_b@example.org", None, weekly=confirmed)
    add(app, "axb@example.org", None, weekly=confirmed)
    add(app, "c100%@example.org", None, weekly=confirmed)

    def shown(q: str) -> set[str]:
        page = admin.get(search(admin, q)).get_data(as_text=True)
        return {a for a in ("a_b@", "axb@", "c100%@") if a in page}

    assert shown("a_b") == {"a_b@"}
    assert shown("%") == {"c100%@"}
    assert shown("\\") == set()
