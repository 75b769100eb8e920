"""The sign-up floor follows the load: new and known addresses answer alike under a burst."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.subscriptions.floor import MARGIN, MIN_SAMPLES, Floor
from tests.conftest import csrf_token


def test_the_configured_minimum_until_there_is_enough_history() -> None:
    floor = Floor()
    for _ in range(MIN_SAMPLES - 1):
        floor.record(0.5)
    assert floor.seconds(0.05, 1.0) == 0.05
    floor.record(0.5)
    assert floor.seconds(0.05, 1.0) == pytest.approx(0.5 * MARGIN)


def test_fast_work_keeps_the_minimum_and_slow_work_raises_the_floor_up_to_the_maximum() -> None:
    floor = Floor()
    for _ in range(200):
        floor.record(0.01)
    assert floor.seconds(0.05, 1.0) == 0.05
    for _ in range(200):
        floor.record(0.2)
    assert floor.seconds(0.05, 1.0) == pytest.approx(0.2 * MARGIN)
    for _ in range(200):
        floor.record(3.0)
    assert floor.seconds(0.05, 1.0) == 1.0


def test_a_few_outliers_do_not_set_the_floor() -> None:
    floor = Floor()
    for n in range(200):
        floor.record(5.0 if n % 50 == 0 else 0.1)  # 2 % of sign-ups stalled (a GC pause)
    assert floor.seconds(0.05, 10.0) == pytest.approx(0.1 * MARGIN)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"SIGNUP_MIN_DURATION": 0.05, "SIGNUP_MAX_DURATION": 2.0}


def post_signup(client: FlaskClient, **fields: str) -> float:
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
    return time.monotonic() - started


def test_after_slow_signups_every_answer_waits_for_the_raised_floor(
    app: Flask, client: FlaskClient
) -> None:
    floor = app.extensions.setdefault("signup_floor", Floor())
    for _ in range(MIN_SAMPLES):
        floor.record(0.3)  # a burst: sign-ups took 0.3 s of work
    for fields in ({"email": "new@example.org"}, {"email": "new@example.org"}, {"website": "x"}):
        assert post_signup(client, **fields) >= 0.3 * MARGIN


def test_the_honeypot_is_not_counted(app: Flask, client: FlaskClient) -> None:
    floor = app.extensions.setdefault("signup_floor", Floor())
    for _ in range(MIN_SAMPLES - 1):
        floor.record(0.3)
    for _ in range(2):
        post_signup(client, website="x")
    assert floor.seconds(0.05, 2.0) == 0.05  # still too little history: bots were not counted
    post_signup(client, email="new@example.org")
    # The real sign-up was counted: the history is long enough and the floor rises. Its own
    # work time is the 20th sample, the highest; on a busy machine it may exceed 0.3 s.
    assert 0.3 * MARGIN <= floor.seconds(0.05, 2.0) <= 2.0
