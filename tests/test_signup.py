"""Sign-up form: validation, bad input, no enumeration, honeypot, challenge, rate limits."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from mailer.subscriptions import service
from tests.conftest import csrf_token, links_in, queued_tasks


def form_data(page: Any, **fields: Any) -> dict[str, Any]:
    """The sign-up form as a reader fills it in on `page`, with `fields` changed (None drops)."""
    data = {
        "email": "reader@example.org",
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page.get_data(as_text=True)),
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        data.pop(key, None)
    return data


def signup(client: FlaskClient, **fields: Any) -> Any:
    return client.post("/subscribe", data=form_data(client.get("/subscribe"), **fields))


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Subscriber.id))) or 0,
            db.session.scalar(select(func.count(Subscription.id))) or 0,
            db.session.scalar(select(func.count(ConsentRecord.id))) or 0,
        )


def test_form_has_the_fixed_field_names(client: FlaskClient) -> None:
    html = client.get("/subscribe").get_data(as_text=True)
    for name in ("email", "name", "lists", "language", "consent", "csrf_token", "website"):
        assert f'name="{name}"' in html
    assert "Email address" in html and '<label for="email">' in html
    assert 'value="weekly" checked' in html or 'checked id="lists-0"' in html
    assert "members" not in html  # private lists are not offered


def test_embed_renders_the_bare_form_and_may_be_framed(client: FlaskClient) -> None:
    response = client.get("/subscribe?embed=1")
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and "<header" not in html
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    normal = client.get("/subscribe")
    assert normal.headers["X-Frame-Options"] == "DENY"


def test_new_address_gets_pending_subscription_consent_and_a_queued_mail(
    app: Flask, client: FlaskClient
) -> None:
    response = signup(client, email="  Reader@Example.ORG ", name="Ada")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/check-inbox")
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        assert subscriber is not None
        assert subscriber.email == "reader@example.org"
        # the typed name waits for the address's owner to confirm (audit M3)
        assert subscriber.name is None and subscriber.pending_name == "Ada"
        assert [s.status for s in subscriber.subscriptions] == [SubscriptionStatus.pending]
        consent = subscriber.consents[0]
        assert consent.action == "signup" and consent.source == "form"
        assert consent.consent_version == app.config["CONSENT_VERSION"]
        assert consent.ip_hash and "127.0.0" not in consent.ip_hash
        subscriber_id = subscriber.id
    assert queued_tasks(app) == [("mailer.send_confirmation", [subscriber_id])]


def test_responses_do_not_tell_new_pending_confirmed_or_suppressed_apart(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        weekly = service.lists_by_slug(["weekly"])
        service.subscribe("pending@example.org", lists=weekly)
        confirmed = service.subscribe("confirmed@example.org", lists=weekly)
        sub = db.session.get(Subscriber, confirmed.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = SubscriptionStatus.confirmed
        service.suppress("suppressed@example.org", SuppressionReason.hard_bounce)
        service.suppress("erased@example.org", SuppressionReason.erased)
        db.session.commit()
    answers = []
    for email in (
        "new@example.org",
        "pending@example.org",
        "confirmed@example.org",
        "suppressed@example.org",
        "erased@example.org",
    ):
        response = signup(client, email=email)
        answers.append((response.status_code, response.headers["Location"], response.get_data()))
    assert len(set(answers)) == 1
    page = client.get(answers[0][1])
    assert page.status_code == 200 and "Check your inbox" in page.get_data(as_text=True)
    names = [name for name, _ in queued_tasks(app)]
    assert names == [
        "mailer.send_confirmation",
        "mailer.send_confirmation",
        "mailer.send_already_subscribed",
        "mailer.send_confirmation",  # an erased reader may come back through double opt-in
    ]  # nothing for the suppressed address
    with app.app_context():
        assert not service.is_suppressed("new@example.org")
        assert (
            db.session.scalar(
                select(Subscriber).where(Subscriber.email == "suppressed@example.org")
            )
            is None
        )


def test_every_accepted_signup_takes_at_least_the_floor(app: Flask, client: FlaskClient) -> None:
    """The floor is what hides the cost difference between the cases (see bench/)."""
    import time

    app.config["SIGNUP_MIN_DURATION"] = 0.2
    with app.app_context():
        service.suppress("gone@example.org", SuppressionReason.erased)
        db.session.commit()
    for fields in ({"email": "gone@example.org"}, {"email": "new@example.org"}, {"website": "x"}):
        page = client.get("/subscribe").get_data(as_text=True)
        data = {
            "email": "a@example.org",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": csrf_token(page),
            **fields,
        }
        started = time.monotonic()
        assert client.post("/subscribe", data=data).status_code == 303
        assert time.monotonic() - started >= 0.2


def test_a_confirmed_subscribers_data_is_not_changed_by_a_stranger(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        signup_ = service.subscribe(
            "me@example.org", lists=service.lists_by_slug(["weekly"]), name="Me"
        )
        sub = db.session.get(Subscriber, signup_.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = SubscriptionStatus.confirmed
        sub.name = "Me"
        db.session.commit()
    signup(client, email="me@example.org", name="Someone else", lists="alerts", language="fr")
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None and sub.name == "Me" and sub.language == "en"
        assert [s.mailing_list.slug for s in sub.subscriptions] == ["weekly"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-address"}, "Enter a valid email address"),
        ({"email": "a" * 250 + "@example.org"}, "Field cannot be longer than 254"),
        ({"email": "x@" + "a" * 300 + ".org"}, "Field cannot be longer than 254"),
        ({"email": ""}, "Enter your email address"),
        ({"email": "two@example.org, three@example.org"}, "Enter a valid email address"),
        ({"email": "evil@example.org\r\nBcc: x@example.org"}, "Enter a valid email address"),
        ({"name": "n" * 100_000}, "Keep your name under 100 characters"),
        ({"lists": "nonexistent"}, "There is no public list called"),
        ({"lists": "members"}, "There is no public list called"),  # private
        ({"lists": None}, "Choose at least one list"),
        ({"consent": None}, "Please agree to receive these emails"),
        ({"language": "xx"}, "Not a valid choice"),
    ],
)
def test_bad_input_rerenders_the_form_with_a_message_and_writes_nothing(
    app: Flask, client: FlaskClient, fields: dict[str, Any], message: str
) -> None:
    response = signup(client, **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'name="email"' in html  # the form again, not an error page
    assert counts(app) == (0, 0, 0)
    assert queued_tasks(app) == []


def test_missing_or_wrong_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    client.get("/subscribe")
    for token in (None, "forged"):
        data = {"email": "a@example.org", "lists": "weekly", "consent": "y", "language": "en"}
        if token:
            data["csrf_token"] = token
        response = client.post("/subscribe", data=data)
        assert response.status_code == 400
        assert "This form has expired" in response.get_data(as_text=True)
    assert counts(app) == (0, 0, 0)


def test_honeypot_looks_like_success_and_does_nothing(app: Flask, client: FlaskClient) -> None:
    response = signup(client, website="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"].endswith("/check-inbox")
    assert counts(app) == (0, 0, 0)
    assert queued_tasks(app) == []


def test_oversized_and_non_utf8_bodies(app: Flask, client: FlaskClient) -> None:
    page = client.get("/subscribe")
    token = csrf_token(page.get_data(as_text=True))
    big = client.post(
        "/subscribe",
        data={"csrf_token": token, "email": "a@example.org", "name": "x" * (1024 * 1024)},
    )
    assert big.status_code == 413
    assert "too large" in big.get_data(as_text=True)
    raw = (
        b"email=\xff\xfe%40example.org&lists=weekly&consent=y&language=en&csrf_token="
        + token.encode()
    )
    bad = client.post("/subscribe", data=raw, content_type="application/x-www-form-urlencoded")
    assert bad.status_code in (400, 422), bad.get_data(as_text=True)
    assert "Traceback" not in bad.get_data(as_text=True)
    assert counts(app) == (0, 0, 0)


def test_wrong_method_is_405_with_a_page(client: FlaskClient) -> None:
    response = client.delete("/subscribe")
    assert response.status_code == 405
    assert "does not accept" in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]
    assert client.put("/check-inbox").status_code == 405


def test_unknown_page_is_404_json_for_api(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


class TestChallenge:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"SIGNUP_CHALLENGE": True, "SIGNUP_CHALLENGE_MAX_NUMBER": 2000}

    def solve(self, html: str) -> str:
        import base64
        import json
        import re

        import altcha

        raw = re.search(r'id="altcha-challenge">(.*?)</script>', html)
        assert raw
        data = json.loads(raw.group(1))
        solution = altcha.solve_challenge_v1(
            data["challenge"], data["salt"], data["algorithm"], data["max_number"]
        )
        assert solution is not None
        payload = {k: data[k] for k in ("algorithm", "challenge", "salt", "signature")}
        payload["number"] = solution.number
        return base64.b64encode(json.dumps(payload).encode()).decode()

    def test_without_a_solution_the_form_says_so(self, app: Flask, client: FlaskClient) -> None:
        response = signup(client)
        assert response.status_code == 422
        assert "anti-spam check did not finish" in response.get_data(as_text=True)
        assert counts(app) == (0, 0, 0)

    def test_a_solution_works_once(self, app: Flask, client: FlaskClient) -> None:
        page = client.get("/subscribe").get_data(as_text=True)
        solution = self.solve(page)
        token = csrf_token(page)
        base = {
            "email": "a@example.org",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": token,
            "altcha": solution,
        }
        assert client.post("/subscribe", data=base).status_code == 303
        again = client.post("/subscribe", data={**base, "email": "b@example.org"})
        assert again.status_code == 422
        assert counts(app)[0] == 1

    def test_without_redis_a_solution_still_works_once_and_an_error_is_logged(
        self,
        app: Flask,
        client: FlaskClient,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import logging

        import redis

        # Alembic's fileConfig (tests/test_migrations.py runs first) disables existing loggers.
        monkeypatch.setattr(logging.getLogger("mailer.subscriptions.guard"), "disabled", False)

        def down(*args: Any, **kwargs: Any) -> None:
            raise redis.ConnectionError("Redis is away")

        page = client.get("/subscribe").get_data(as_text=True)
        base = {
            "email": "a@example.org",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "csrf_token": csrf_token(page),
            "altcha": self.solve(page),
        }
        # The app's client only (the replay store's, with the per-IP limit: one Lua script).
        app.extensions["redis"].evalsha = down
        assert client.post("/subscribe", data=base).status_code == 303
        again = client.post("/subscribe", data={**base, "email": "b@example.org"})
        assert again.status_code == 422
        assert counts(app)[0] == 1
        assert any(
            r.levelname == "ERROR" and "replay store" in r.getMessage() for r in caplog.records
        )

    def test_a_forged_solution_is_refused(self, app: Flask, client: FlaskClient) -> None:
        import base64

        for junk in ("", "%%%", base64.b64encode(b'{"algorithm":"SHA-256"}').decode(), "x" * 5000):
            assert signup(client, altcha=junk).status_code == 422
        assert counts(app) == (0, 0, 0)


class TestRateLimits:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_SIGNUP_IP": "3 per minute",
            "RATELIMIT_SIGNUP_ADDRESS": "2 per hour",
        }

    def test_per_ip_limit_answers_429_with_a_page(self, app: Flask, client: FlaskClient) -> None:
        statuses = [signup(client, email=f"r{i}@example.org").status_code for i in range(4)]
        assert statuses == [303, 303, 303, 429]
        page = signup(client, email="r9@example.org")
        assert "Too many attempts" in page.get_data(as_text=True)
        assert counts(app)[0] == 3

    def test_per_address_limit_silently_stops_the_mails(
        self, app: Flask, client: FlaskClient
    ) -> None:
        first = signup(client, email="victim@example.org")
        second = client.post("/subscribe", data={})  # another IP would look the same
        del second
        app.config["RATELIMIT_SIGNUP_IP"] = "100 per minute"
        answers = [signup(client, email="victim@example.org") for _ in range(3)]
        assert first.status_code == 303 and all(a.status_code == 303 for a in answers)
        assert len(queued_tasks(app)) == 2  # per-address limit: 2 mails, then silence


# --- a stranger's text in our mail (audit M3) --------------------------------------------------

PHISH = "URGENT: your account is blocked, verify at https://evil.example/login"


def mail_text(message: Any) -> str:
    parts = [message["Subject"]]
    for kind in ("plain", "html"):
        body = message.get_body((kind,))
        parts.append(body.get_content() if body is not None else "")
    return "\n".join(parts)


def test_the_confirmation_mail_never_carries_the_typed_name(
    app: Flask, client: FlaskClient, outbox: list[Any]
) -> None:
    import base64
    import json

    from mailer.tasks import send_confirmation

    signup(client, email="journalist@example.org", name=PHISH)
    ((_name, (subscriber_id,)),) = queued_tasks(app)
    with app.app_context():
        send_confirmation(subscriber_id)
    text = mail_text(outbox[-1])
    assert "Confirm my subscription" in text
    assert "URGENT" not in text and "evil.example" not in text
    token = [u for u in links_in(outbox[-1]) if "/confirm/" in u][0].rsplit("/", 1)[1]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert "URGENT" not in json.dumps(payload)  # not even encoded in the link


def test_a_strangers_sign_up_changes_nothing_the_owner_confirms(
    app: Flask, client: FlaskClient, outbox: list[Any]
) -> None:
    from mailer.tasks import send_confirmation
    from tests.test_links import post_with_csrf

    signup(client, email="owner@example.org", name="Owner", language="fr")
    ((_name, (subscriber_id,)),) = queued_tasks(app)
    with app.app_context():
        send_confirmation(subscriber_id)
    owners_link = [u for u in links_in(outbox[-1]) if "/confirm/" in u][0]
    signup(client, email="owner@example.org", name=PHISH, lists="alerts", language="ar")
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None and sub.name is None and sub.language == "fr"
        assert {s.status for s in sub.subscriptions} == {SubscriptionStatus.pending}
    # the owner confirms from their own mail: its lists, and no stranger's name
    response = post_with_csrf(client, owners_link.replace("http://localhost", ""))
    assert response.status_code == 200
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None and sub.name is None and sub.language == "fr"
        assert {s.mailing_list.slug: s.status.value for s in sub.subscriptions} == {
            "weekly": "confirmed",
            "alerts": "pending",
        }


def test_the_owners_name_and_language_apply_when_they_confirm(
    app: Flask, client: FlaskClient, outbox: list[Any]
) -> None:
    from mailer.tasks import send_confirmation
    from tests.test_links import post_with_csrf

    signup(client, email="ada@example.org", name="Ada", language="es")
    ((_name, (subscriber_id,)),) = queued_tasks(app)
    with app.app_context():
        send_confirmation(subscriber_id)
    link = [u for u in links_in(outbox[-1]) if "/confirm/" in u][0]
    assert post_with_csrf(client, link.replace("http://localhost", "")).status_code == 200
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None and (sub.name, sub.language) == ("Ada", "es")
        assert sub.pending_name is None and sub.pending_language is None


def test_the_already_subscribed_mail_never_carries_the_typed_name(
    app: Flask, client: FlaskClient, outbox: list[Any]
) -> None:
    from mailer.tasks import send_already_subscribed

    with app.app_context():
        first = service.subscribe("me@example.org", lists=service.lists_by_slug(["weekly"]))
        sub = db.session.get(Subscriber, first.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = SubscriptionStatus.confirmed
        sub.name = "Me"
        db.session.commit()
    signup(client, email="me@example.org", name=PHISH)
    ((name, (subscriber_id,)),) = queued_tasks(app)
    assert name == "mailer.send_already_subscribed"
    with app.app_context():
        send_already_subscribed(subscriber_id)
    text = mail_text(outbox[-1])
    assert "already subscribed" in text
    assert "URGENT" not in text and "evil.example" not in text


def test_a_list_deleted_by_another_process_meanwhile_is_a_clear_refusal(
    app: Flask, client: FlaskClient
) -> None:
    """The form's lists are kept a few seconds per process (list_cache): a list another web
    worker deleted meanwhile gets the form again with a message, not a 500."""
    from sqlalchemy import text

    page = client.get("/subscribe")  # this process now holds the public lists
    with app.app_context(), db.engine.begin() as conn:  # another process: no session event
        conn.execute(text("DELETE FROM mailing_list WHERE slug = 'weekly'"))
    response = client.post("/subscribe", data=form_data(page))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "There is no public list called" in html and 'name="email"' in html
    assert counts(app) == (0, 0, 0)
    assert queued_tasks(app) == []
