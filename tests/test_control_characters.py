"""Control characters in what readers type: refused alike for every address, nothing written.

On PostgreSQL a NUL in a new address's name failed the insert (500) while a known address,
whose name is not written, got "check your inbox" (303): the form told a stranger who
subscribes. Run with TEST_DATABASE_URL to see the PostgreSQL side.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.controls import has_control_characters
from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from mailer.privacy import address_hash
from mailer.subscriptions import links
from tests.conftest import csrf_token
from tests.test_signup import form_data

MESSAGE = "This field contains an invisible control character. Please type it again."
# NUL (PostgreSQL refuses it), other C0 controls, DEL and C1 controls (NEL).
BAD = ["a\x00b", "Ada\x01", "\x1fAda", "Ada\tLovelace", "Ada\x7f", "Ada\x85", "Ada\x9f"]
ADDRESSES = {
    "new": "new.reader@example.org",
    "pending": "pending.reader@example.org",
    "confirmed": "confirmed.reader@example.org",
    "unsubscribed": "left.reader@example.org",
    "suppressed": "bounced.reader@example.org",
}


def known_readers(app: Flask) -> None:
    """One address in each state but new, each on the weekly list."""
    states = {
        "pending": SubscriptionStatus.pending,
        "confirmed": SubscriptionStatus.confirmed,
        "unsubscribed": SubscriptionStatus.unsubscribed,
    }
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        for state, status in states.items():
            email = ADDRESSES[state]
            subscriber = Subscriber(email=email, address_hash=address_hash(email), name="Kept")
            subscriber.subscriptions.append(Subscription(mailing_list=weekly, status=status))
            db.session.add(subscriber)
        db.session.add(
            Suppression(
                address_hash=address_hash(ADDRESSES["suppressed"]),
                reason=SuppressionReason.hard_bounce,
            )
        )
        db.session.commit()


def snapshot(app: Flask) -> tuple[Any, ...]:
    """Every row a sign-up could write."""
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Subscriber.id))),
            db.session.scalar(select(func.count(Subscription.id))),
            db.session.scalar(select(func.count(ConsentRecord.id))),
            sorted(tuple(r) for r in db.session.execute(select(Subscriber.email, Subscriber.name))),
            sorted(
                tuple(r)
                for r in db.session.execute(select(Subscriber.email, Subscriber.pending_name))
            ),
        )


def answer(client: FlaskClient, path: str, email: str, **fields: Any) -> tuple[int, str]:
    """Status and page of a sign-up, with the address and the CSRF token blanked out."""
    page = client.get(path)
    response = client.post(path, data=form_data(page, email=email, **fields))
    html = response.get_data(as_text=True).replace(email.strip(), "ADDRESS")
    return response.status_code, re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1T", html)


@pytest.mark.parametrize("path", ["/subscribe", "/subscribe?embed=1"])
@pytest.mark.parametrize("name", BAD)
def test_a_control_character_in_the_name_gets_one_answer_for_every_address(
    app: Flask, client: FlaskClient, path: str, name: str
) -> None:
    known_readers(app)
    before = snapshot(app)
    answers = {state: answer(client, path, email, name=name) for state, email in ADDRESSES.items()}
    status, page = answers["new"]
    assert status == 422
    assert MESSAGE in page and 'aria-invalid="true"' in page
    for state, seen in answers.items():
        assert seen == (status, page), f"the {state} address got another answer"
    assert snapshot(app) == before  # nothing written, for any of them


@pytest.mark.parametrize("email", ["new.reader@example.org\x1f", "new\x00reader@example.org"])
def test_a_control_character_in_the_address_is_refused(
    app: Flask, client: FlaskClient, email: str
) -> None:
    before = snapshot(app)
    status, page = answer(client, "/subscribe", email)
    assert status == 422
    assert MESSAGE in page or "Enter a valid email address" in page
    assert snapshot(app) == before


def test_the_sign_up_still_takes_names_in_any_script(app: Flask, client: FlaskClient) -> None:
    status, _page = answer(client, "/subscribe", "new.reader@example.org", name="Nadia Ḥ. مریم")
    assert status == 303


def preferences_of(app: Flask) -> str:
    known_readers(app)
    with app.app_context():
        subscriber = db.session.scalar(
            select(Subscriber).where(Subscriber.email == ADDRESSES["confirmed"])
        )
        assert subscriber is not None
        return f"/preferences/{links.preferences_token(subscriber)}"


@pytest.mark.parametrize("name", BAD)
def test_the_preferences_page_refuses_a_control_character_in_the_name(
    app: Flask, client: FlaskClient, name: str
) -> None:
    url = preferences_of(app)
    before = snapshot(app)
    page = client.get(url).get_data(as_text=True)
    response = client.post(
        url,
        data={"csrf_token": csrf_token(page), "lists": "1", "name": name, "language": "fr"},
    )
    assert response.status_code == 422
    assert MESSAGE in response.get_data(as_text=True)
    assert snapshot(app) == before
    with app.app_context():
        language = db.session.scalar(
            select(Subscriber.language).where(Subscriber.email == ADDRESSES["confirmed"])
        )
        assert language == "en"  # nothing of the form was saved


def test_the_message_is_translated(app: Flask, client: FlaskClient) -> None:
    status, page = answer(client, "/subscribe?lang=fa", ADDRESSES["new"], name="a\x00b")
    assert status == 422 and MESSAGE not in page
    assert "این فیلد یک نویسهٔ کنترلی نامرئی دارد" in page


@pytest.mark.parametrize(
    ("value", "multiline", "refused"),
    [
        ("Ada Lovelace", False, False),
        ("Ada\x00", False, True),
        ("Ada\tLovelace", False, True),
        ("line one\r\nline two\tand a tab", True, False),
        ("line one\x00", True, True),
        ("\x0b", True, True),
        ("\x85", True, True),
        ("\ud800", False, True),  # a lone surrogate (JSON can carry one, forms cannot)
        ("\u00a0\u200f\u2028", False, False),  # spaces and marks are not controls
    ],
)
def test_has_control_characters(value: str, multiline: bool, refused: bool) -> None:
    assert has_control_characters(value, multiline=multiline) is refused
