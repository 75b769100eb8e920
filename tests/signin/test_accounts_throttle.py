"""Guessing is useless: back-off and locks per account and per network (injected clock)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.accounts import throttle
from mailer.extensions import db
from mailer.models import LoginEvent, LoginThrottle
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    code_step,
    enrol,
    password_step,
)
from tests.conftest import TEST_SECRET

TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
NO_MATCH = "That email address and password do not match an editor."


def events(app: Flask) -> list[tuple[int | None, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(LoginEvent.editor_id, LoginEvent.outcome).order_by(LoginEvent.id)
        )
        return [(r[0], r[1]) for r in rows]


def body(response: Any) -> str:
    """The page without its per-request CSRF token."""
    return re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))


def test_back_off_doubles_after_three_failures_then_lets_the_right_password_in(
    client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    assert [password_step(client, password=f"wrong {i}").status_code for i in range(3)] == [422] * 3
    refused = password_step(client)  # even the right password, for now
    assert refused.status_code == 429 and TOO_MANY in refused.get_data(as_text=True)
    clock.advance(seconds=1.5)
    assert password_step(client).status_code == 429
    clock.advance(seconds=0.6)
    assert password_step(client, password="wrong 3").status_code == 422  # 4th failure: 4 s
    clock.advance(seconds=3.5)
    assert password_step(client).status_code == 429
    clock.advance(seconds=0.6)
    assert password_step(client).status_code == 303  # signed in: the failures are forgotten
    assert password_step(client, password="wrong again").status_code == 422


def test_the_account_locks_whatever_address_the_guesses_come_from(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    for i in range(6):
        assert password_step(client, password=f"wrong {i}", ip=f"198.51.100.{i}").status_code == 422
        clock.advance(minutes=5)  # every back-off over
    assert events(app)[-1] == (editor, "locked")
    clock.advance(minutes=9)  # locked at the 6th failure, 5 minutes ago: 15 minutes in all
    assert password_step(client, ip="203.0.113.9").status_code == 429
    clock.advance(minutes=1, seconds=1)
    assert password_step(client, ip="203.0.113.9").status_code == 303


def test_after_a_lock_each_further_failure_locks_again(
    client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    for i in range(6):
        password_step(client, password=f"wrong {i}", ip=f"198.51.100.{i}")
        clock.advance(minutes=5)
    clock.advance(minutes=11)
    assert password_step(client, password="wrong 7", ip="198.51.100.7").status_code == 422
    clock.advance(minutes=14)
    assert password_step(client, ip="203.0.113.9").status_code == 429


def test_failures_are_forgotten_after_a_quiet_day(
    client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    for i in range(5):
        password_step(client, password=f"wrong {i}", ip=f"198.51.100.{i}")
        clock.advance(minutes=5)
    clock.advance(days=1)
    assert password_step(client, password="wrong 5", ip="198.51.100.5").status_code == 422
    assert password_step(client, ip="198.51.100.6").status_code == 303  # not locked, no wait


def test_an_unknown_address_is_answered_and_throttled_like_a_real_one(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    known = [password_step(client, password=f"wrong {i}") for i in range(4)]
    clock.advance(minutes=30)
    unknown = [password_step(client, email="nobody@example.org", ip="10.0.0.2") for _ in range(4)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [422] * 3 + [429]
    for a, b in zip(known, unknown, strict=True):
        assert body(a).replace(EMAIL, "X") == body(b).replace("nobody@example.org", "X")
    assert NO_MATCH in body(unknown[0]) and TOO_MANY in body(unknown[3])
    with app.app_context():
        keys = set(db.session.scalars(select(LoginThrottle.key)))
        assert "a:" + throttle.account_hash(" Nobody@Example.org ") in keys
        assert not any("nobody" in key for key in keys)
    assert events(app)[-3:] == [(None, "password")] * 3


def test_second_factor_failures_count_and_lock_the_account(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    enrol(app, editor)
    for i in range(6):
        assert password_step(client, ip=f"198.51.100.{i}").status_code == 303
        assert code_step(client, "000000", ip=f"198.51.100.{i}").status_code == 422
        clock.advance(minutes=5)
    assert [e for e in events(app)][-2:] == [(editor, "second_factor"), (editor, "locked")]
    assert password_step(client, ip="203.0.113.9").status_code == 429


class TestPerNetwork:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"LOGIN_BACKOFF_BASE": 0.0, "LOGIN_NETWORK_LOCK_AFTER": 4}

    def test_one_network_guessing_many_accounts_is_locked_out(
        self, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        for i in range(4):
            assert password_step(client, email=f"guess{i}@example.org").status_code == 422
        assert password_step(client).status_code == 429  # this network, any account
        assert password_step(client, ip="10.9.9.9").status_code == 303  # another network

    def test_a_client_forged_x_forwarded_for_does_not_change_its_network(
        self, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        for i in range(4):
            page = client.get("/admin/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert token
            response = client.post(
                "/admin/login",
                data={"email": f"g{i}@example.org", "password": "x", "csrf_token": token[1]},
                headers={"X-Forwarded-For": f"192.0.2.{i}"},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
            )
            assert response.status_code == 422
        assert password_step(client, ip="10.0.0.1").status_code == 429


def test_failures_and_locks_are_logged_without_password_or_address(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailer")
    for i in range(6):
        password_step(client, password=f"secret guess {i}", ip=f"198.51.100.{i}")
        clock.advance(minutes=5)
    password_step(client, email="nobody@example.org", password="another guess")
    text = caplog.text
    assert f"sign-in failure (password): editor {editor}" in text
    assert "sign-in failure (password): editor unknown" in text
    assert f"sign-in locked (account) for 15 minutes: editor {editor}" in text
    assert "guess" not in text and "@example.org" not in text and TEST_SECRET not in text
    with app.app_context():
        assert db.session.scalar(select(func.count(LoginEvent.id))) == 8


def test_the_dashboard_shows_recent_sign_in_failures(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    password_step(client, password="wrong one")
    password_step(client, email="nobody@example.org", ip="10.0.0.5")
    clock.advance(minutes=5)
    assert password_step(client).status_code == 303
    page = client.get("/admin/").get_data(as_text=True)
    panel = page.split("Recent sign-in failures", 1)[1]
    assert "unknown address" in panel and EMAIL in panel and "wrong password" in panel
    assert "nobody@example.org" not in page


class TestBehindOneProxy:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"LOGIN_BACKOFF_BASE": 0.0, "LOGIN_NETWORK_LOCK_AFTER": 4, "TRUSTED_PROXIES": 1}

    def attempt(self, client: FlaskClient, forwarded: str, email: str, password: str) -> int:
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token
        response = client.post(
            "/admin/login",
            data={"email": email, "password": password, "csrf_token": token[1]},
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},  # the proxy
        )
        return response.status_code

    def test_only_the_address_the_proxy_appended_counts(
        self, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        # The client forges a first entry each time; the proxy appends the real one.
        for i in range(4):
            assert (
                self.attempt(client, f"192.0.2.{i}, 203.0.113.5", f"g{i}@example.org", "x") == 422
            )
        assert self.attempt(client, "192.0.2.99, 203.0.113.5", EMAIL, PASSWORD) == 429
        assert self.attempt(client, "203.0.113.6", EMAIL, PASSWORD) == 303


def test_failures_at_the_same_moment_all_count(app: Flask, clock: FakeClock) -> None:
    keys = throttle.Keys(account="a:race", network="n:race", network_hash="race")
    with app.test_request_context():
        throttle.failed(keys, None, "password")  # the rows exist: the race is on updates
        db.session.remove()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def fail() -> None:
        try:
            with app.test_request_context():
                start.wait(10)
                throttle.failed(keys, None, "password")
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        counts = dict(db.session.execute(select(LoginThrottle.key, LoginThrottle.failures)).all())
    assert counts == {"a:race": 7, "n:race": 7}
