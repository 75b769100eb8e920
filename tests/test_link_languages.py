"""Pages for a link that no longer works: in the language of the reader it was mailed to, when
it is genuinely theirs (used, spent, revoked or expired), else the browser's; and never an
oracle: a forged link, or one of a reader no longer with us, gets the same page as any other.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash
from mailer.subscriptions import links, service
from mailer.tokens import make_token
from tests.conftest import csrf_token

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def reader(app: Flask, language: str, status: SubscriptionStatus) -> dict[str, Any]:
    """A reader in `language` on the weekly list; their id and link tokens."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        email = f"{language}.{status.value}@example.org"
        subscriber = Subscriber(email=email, address_hash=address_hash(email), language=language)
        subscriber.subscriptions.append(Subscription(mailing_list=weekly, status=status))
        db.session.add(subscriber)
        db.session.flush()
        found = {
            "id": subscriber.id,
            "confirm": links.confirm_token(subscriber, [weekly.id]),
            "preferences": links.preferences_token(subscriber),
            "data": links.one_time_token(subscriber, "data"),
            "erase": links.one_time_token(subscriber, "erase"),
            "unsubscribe": links.unsubscribe_token(subscriber),
        }
        db.session.commit()
        return found


def lang_of(response: Any) -> tuple[str, str]:
    found = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:200]
    return found.group(1), found.group(2)


def test_a_used_confirmation_link(app: Flask, client: FlaskClient) -> None:
    tokens = reader(app, "ru", SubscriptionStatus.confirmed)
    response = client.get(f"/confirm/{tokens['confirm']}", headers=ENGLISH)
    assert response.status_code == 409
    assert lang_of(response) == ("ru", "ltr")
    assert "Эта ссылка уже использована" in response.get_data(as_text=True)
    chosen = client.get(f"/confirm/{tokens['confirm']}?lang=fr", headers=ENGLISH)
    assert chosen.status_code == 409 and lang_of(chosen) == ("fr", "ltr")  # ?lang= still wins


def test_a_used_confirmation_link_posted_again(app: Flask, client: FlaskClient) -> None:
    tokens = reader(app, "fa", SubscriptionStatus.confirmed)
    page = client.get("/subscribe", headers=ENGLISH).get_data(as_text=True)
    response = client.post(
        f"/confirm/{tokens['confirm']}", data={"csrf_token": csrf_token(page)}, headers=ENGLISH
    )
    assert response.status_code == 409 and lang_of(response) == ("fa", "rtl")


class TestExpired:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        every_link_expired = timedelta(seconds=-1)
        return {"CONFIRM_MAX_AGE": every_link_expired, "ONE_TIME_LINK_MAX_AGE": every_link_expired}

    def test_an_expired_confirmation_link(self, app: Flask, client: FlaskClient) -> None:
        tokens = reader(app, "ar", SubscriptionStatus.pending)
        response = client.get(f"/confirm/{tokens['confirm']}", headers=ENGLISH)
        assert response.status_code == 410 and lang_of(response) == ("ar", "rtl")

    @pytest.mark.parametrize("kind", ["data", "erase"])
    def test_an_expired_one_time_link(self, app: Flask, client: FlaskClient, kind: str) -> None:
        tokens = reader(app, "tr", SubscriptionStatus.confirmed)
        response = client.get(f"/{kind}/{tokens[kind]}", headers=ENGLISH)
        assert response.status_code == 410 and lang_of(response) == ("tr", "ltr")


@pytest.mark.parametrize("kind", ["data", "erase"])
def test_a_spent_one_time_link(app: Flask, client: FlaskClient, kind: str) -> None:
    tokens = reader(app, "es", SubscriptionStatus.confirmed)
    with app.app_context():
        subscriber = db.session.get(Subscriber, tokens["id"])
        assert subscriber is not None
        links.use_once(subscriber)
        db.session.commit()
    response = client.get(f"/{kind}/{tokens[kind]}", headers=ENGLISH)
    assert response.status_code == 410 and lang_of(response) == ("es", "ltr")


def test_a_revoked_preferences_link(app: Flask, client: FlaskClient) -> None:
    tokens = reader(app, "fa", SubscriptionStatus.confirmed)
    with app.app_context():
        subscriber = db.session.get(Subscriber, tokens["id"])
        assert subscriber is not None
        links.revoke_links(subscriber)
        db.session.commit()
    response = client.get(f"/preferences/{tokens['preferences']}", headers=ENGLISH)
    assert response.status_code == 404 and lang_of(response) == ("fa", "rtl")


def test_links_that_name_no_one_all_get_one_page(app: Flask, client: FlaskClient) -> None:
    """Forged, tampered, for another purpose, of an unknown id, of a changed address, of an
    erased reader (in Persian): the same 404 page in the browser's language, whatever the link
    says about whom."""
    gone = reader(app, "fa", SubscriptionStatus.confirmed)
    moved = reader(app, "ru", SubscriptionStatus.confirmed)
    with app.app_context():
        erased = db.session.get(Subscriber, gone["id"])
        assert erased is not None
        service.erase(erased)
        changed = db.session.get(Subscriber, moved["id"])
        assert changed is not None
        changed.email = "elsewhere@example.org"
        db.session.commit()
        unknown = make_token("preferences", {"u": "no-such-reader", "h": "0" * 16, "v": 0})
    pages = set()
    for path in (
        "/preferences/not-a-token",
        f"/preferences/{gone['preferences'][:-4]}AAAA",  # tampered signature
        f"/preferences/{gone['unsubscribe']}",  # another purpose's token
        f"/preferences/{unknown}",
        f"/preferences/{gone['preferences']}",  # erased
        f"/preferences/{moved['preferences']}",  # the address changed since
    ):
        response = client.get(path, headers=ENGLISH)
        assert response.status_code == 404, path
        token = path.rsplit("/", 1)[1]  # the language switcher links to this very page
        pages.add(response.get_data(as_text=True).replace(token, "TOKEN"))
    assert len(pages) == 1
    assert lang_of(client.get("/preferences/not-a-token", headers=ENGLISH)) == ("en", "ltr")
