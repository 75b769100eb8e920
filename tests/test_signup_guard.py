"""The sign-up's per-IP limit and proof-of-work replay store, asked of Redis in one round trip.

mailer/subscriptions/guard.py replaces Flask-Limiter on POST /subscribe: these tests hold it to
the same rules (every window counts, shortest first, none past the first one over; a 429 page)
and to what the replay store promised (a solution works once, with or without Redis).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import altcha
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from mailer.subscriptions import guard
from tests.conftest import csrf_token
from tests.test_signup import counts, signup


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_SIGNUP_IP": "2 per minute;3 per hour",
        "SIGNUP_CHALLENGE": True,
        "SIGNUP_CHALLENGE_MAX_NUMBER": 500,
    }


def filled_form(client: FlaskClient, email: str) -> dict[str, str]:
    """The form as a browser posts it, the page's challenge solved."""
    page = client.get("/subscribe").get_data(as_text=True)
    raw = re.search(r'id="altcha-challenge">(.*?)</script>', page)
    assert raw
    data = json.loads(raw.group(1))
    found = altcha.solve_challenge_v1(
        data["challenge"], data["salt"], data["algorithm"], data["max_number"]
    )
    assert found is not None
    payload = {k: data[k] for k in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = found.number
    return {
        "email": email,
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page),
        "altcha": base64.b64encode(json.dumps(payload).encode()).decode(),
    }


def forget_the_minute(app: Flask) -> None:
    """As if the minute had passed: the per-minute counters go, the hourly ones stay."""
    r = app.extensions["redis"]
    minute = [k for k in r.scan_iter("LIMITER/*") if k.endswith(b"/minute")]
    assert minute
    r.delete(*minute)


def test_one_round_trip_for_the_limit_and_the_challenge(app: Flask, client: FlaskClient) -> None:
    r = app.extensions["redis"]
    assert client.post("/subscribe", data=filled_form(client, "a@example.org")).status_code == 303
    form = filled_form(client, "b@example.org")
    sent: list[str] = []
    execute = r.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]))
        return execute(*args, **kwargs)

    r.execute_command = counted
    try:
        assert client.post("/subscribe", data=form).status_code == 303
    finally:
        del r.execute_command
    assert sent == ["EVALSHA"]
    assert counts(app)[0] == 2


def test_every_window_counts_and_a_request_over_the_limit_uses_up_nothing(
    app: Flask, client: FlaskClient
) -> None:
    first = [filled_form(client, f"r{i}@example.org") for i in range(3)]
    statuses = [client.post("/subscribe", data=form).status_code for form in first]
    assert statuses == [303, 303, 429]
    limited = client.post("/subscribe", data=first[2])
    assert limited.status_code == 429 and "Too many attempts" in limited.get_data(as_text=True)
    forget_the_minute(app)
    # The held-back solution was not used up, and the hour counted only the 2 requests that
    # passed the minute (none is counted past the first window over its limit): a third passes.
    assert client.post("/subscribe", data=first[2]).status_code == 303
    assert client.post("/subscribe", data=filled_form(client, "x@example.org")).status_code == 429
    forget_the_minute(app)
    assert client.post("/subscribe", data=filled_form(client, "y@example.org")).status_code == 429
    assert counts(app)[0] == 3


def test_a_solution_for_an_invalid_form_is_refused_again_after(
    app: Flask, client: FlaskClient
) -> None:
    app.config["RATELIMIT_SIGNUP_IP"] = "100 per minute"
    form = filled_form(client, "reader@example.org")
    bad = client.post("/subscribe", data={**form, "email": "not an address"})
    assert bad.status_code == 422
    assert "altcha-challenge" in bad.get_data(as_text=True)  # a new challenge to solve
    assert client.post("/subscribe", data=form).status_code == 422  # not twice
    assert counts(app)[0] == 0


def test_without_redis_the_limit_and_the_replay_store_hold_in_memory(
    app: Flask,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Alembic's fileConfig (tests/test_migrations.py runs first) disables existing loggers.
    monkeypatch.setattr(logging.getLogger("mailer.subscriptions.guard"), "disabled", False)

    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("Redis is away")

    forms = [filled_form(client, f"r{i}@example.org") for i in range(3)]
    guard._MEMORY.reset()  # this process's counters (kept between tests)
    app.extensions["redis"].evalsha = down
    assert client.post("/subscribe", data=forms[0]).status_code == 303
    assert client.post("/subscribe", data=forms[0]).status_code == 422  # used, in memory
    assert client.post("/subscribe", data=forms[1]).status_code == 429  # 2 per minute
    assert counts(app)[0] == 1
    assert any(
        r.levelname == "ERROR" and "Redis unavailable" in r.getMessage() for r in caplog.records
    )


def test_limits_off_and_challenge_off_ask_nothing_of_redis(app: Flask, client: FlaskClient) -> None:
    app.config.update(RATELIMIT_ENABLED=False, SIGNUP_CHALLENGE=False)
    app.extensions["redis"].evalsha = None  # fails if called
    try:
        statuses = [signup(client, email=f"r{i}@example.org").status_code for i in range(4)]
    finally:
        del app.extensions["redis"].evalsha
    assert statuses == [303] * 4
    assert counts(app)[0] == 4
