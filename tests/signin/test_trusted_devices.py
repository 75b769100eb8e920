"""Trusted browsers are rows: a keyed hash of the cookie's nonce, a coarse label, first and
last use; a cookie whose row is gone is a stranger's again. The Account page's buttons are
in tests/signin/test_trusted_devices_page.py, the browser flow in
tests/integration/test_trusted_browsers_browser.py."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from mailer import retention
from mailer.accounts import device_store, devices, user_agent
from mailer.extensions import db
from mailer.keys import derive
from mailer.models import TrustedDevice
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    form_post,
    password_step,
)
from tests.conftest import TEST_SECRET

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def sign_in(app: Flask, agent: str = FIREFOX_WINDOWS, ip: str = "10.0.0.7") -> FlaskClient:
    browser = app.test_client()
    response = form_post(
        browser,
        "/admin/login",
        {"email": EMAIL, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": ip},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 303
    return browser


def lock_the_account(client: FlaskClient, clock: FakeClock) -> None:
    for i in range(6):  # a botnet: six addresses
        assert password_step(client, password=f"guess {i}", ip=f"198.51.100.{i}").status_code == 422
        clock.advance(minutes=2)


def rows(app: Flask) -> list[TrustedDevice]:
    with app.app_context():
        found = db.session.scalars(select(TrustedDevice).order_by(TrustedDevice.id)).all()
        db.session.expunge_all()
        return list(found)


def nonce_of(browser: FlaskClient) -> str:
    cookie = browser.get_cookie(devices.COOKIE_HTTP)
    assert cookie is not None
    key = derive(TEST_SECRET, "editor-device")
    return str(URLSafeTimedSerializer(key, salt="mailer.editor-device").loads(cookie.value)["n"])


def test_a_full_sign_in_keeps_a_keyed_hash_of_the_nonce_and_a_coarse_label(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    browser = sign_in(app)
    nonce = nonce_of(browser)
    (row,) = rows(app)
    key = derive(TEST_SECRET, "trusted-device")
    assert row.nonce_hash == hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()
    assert nonce not in row.nonce_hash
    assert row.editor_id == editor and row.label == "firefox/windows"  # no version, no more
    assert row.created_at == row.last_used_at == clock.now

    clock.advance(hours=3)
    sign_in(app, agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/134.0")  # another browser
    again = form_post(browser, "/admin/login", {"email": EMAIL, "password": PASSWORD})
    assert again.status_code == 303 and nonce_of(browser) != nonce  # a new nonce...
    assert [(r.id, r.last_used_at) for r in rows(app)] == [
        (row.id, clock.now),  # ...in the same browser's row
        (row.id + 1, clock.now),
    ]


def test_a_cookie_whose_row_is_gone_is_a_strangers_again(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    kept, dropped = sign_in(app), sign_in(app)
    with app.app_context():
        (row,) = [
            r
            for r in db.session.scalars(select(TrustedDevice))
            if r.nonce_hash == device_store.nonce_hash(nonce_of(dropped))
        ]
        db.session.delete(row)
        db.session.commit()
    lock_the_account(client, clock)
    assert password_step(dropped, ip="10.0.0.7").status_code == 429  # locked with the account
    assert password_step(kept, ip="10.0.0.7").status_code == 303  # its row is there


def test_last_used_is_written_at_most_once_an_hour_and_renews_the_cookie(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    browser = sign_in(app)
    signed_in_at = clock.now

    def visit() -> list[str]:
        response = browser.get("/admin/")
        assert response.status_code == 200
        return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("editor_")]

    for _ in range(2):  # 20 and 40 minutes: the session stays alive, the row is not written
        clock.advance(minutes=20)
        assert visit() == []
        assert rows(app)[0].last_used_at == signed_in_at
    clock.advance(minutes=21)
    (renewed,) = visit()
    assert "Max-Age=15552000" in renewed  # 180 days again from now
    assert rows(app)[0].last_used_at == clock.now
    touched = clock.now
    clock.advance(minutes=20)
    assert visit() == []
    assert rows(app)[0].last_used_at == touched


def test_browsers_unused_for_180_days_are_pruned_with_the_other_sign_in_data(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    sign_in(app)
    start = clock.now
    clock.advance(days=100)
    sign_in(
        app,
        agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Safari/604.1",
    )
    with app.app_context():
        retention.apply(start + device_store.MAX_AGE)
    assert len(rows(app)) == 2  # 180 days exactly: not yet
    with app.app_context():
        retention.apply(start + device_store.MAX_AGE + device_store.TOUCH_EVERY)
    assert [r.label for r in rows(app)] == ["safari/ios"]


def test_an_editor_keeps_at_most_so_many_browsers_the_least_recently_used_go(
    app: Flask, clock: FakeClock, editor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_store, "MAX_PER_EDITOR", 3)
    first = sign_in(app)
    for _ in range(3):
        clock.advance(minutes=1)
        sign_in(app)
    assert len(rows(app)) == 3
    with app.app_context():  # the first, least recently used, is the one gone
        assert device_store.find(editor, nonce_of(first)) is None


def test_over_https_the_host_prefixed_cookie_is_the_trusted_one(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    app.config["BASE_URL"] = "https://news.example.org"
    https = {"base_url": "https://localhost", "environ_base": {"REMOTE_ADDR": "10.0.0.7"}}
    browser = app.test_client()
    response = form_post(browser, "/admin/login", {"email": EMAIL, "password": PASSWORD}, **https)
    assert response.status_code == 303
    assert browser.get_cookie(devices.COOKIE_HTTPS, domain="localhost") is not None
    lock_the_account(client, clock)
    again = form_post(browser, "/admin/login", {"email": EMAIL, "password": PASSWORD}, **https)
    assert again.status_code == 303  # the account is locked, this browser is not


def test_the_cookie_from_before_trusted_browsers_is_dropped_at_the_next_sign_in(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    browser = app.test_client()
    browser.set_cookie(devices.COOKIE_HTTP, "an-old-cookie", path=devices.LEGACY_PATH)
    response = password_step(browser)
    assert response.status_code == 303
    assert any(
        h.startswith("editor_device=;") and "Path=/admin" in h
        for h in response.headers.getlist("Set-Cookie")
    )
    assert browser.get_cookie(devices.COOKIE_HTTP, path=devices.LEGACY_PATH) is None
    assert browser.get_cookie(devices.COOKIE_HTTP, path="/") is not None


def test_after_a_key_rotation_the_row_still_matches_and_is_rekeyed_at_the_next_sign_in(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    browser = sign_in(app)
    old_hash = rows(app)[0].nonce_hash
    app.config["SECRET_KEY_FALLBACKS"] = [TEST_SECRET]
    app.config["SECRET_KEY"] = "a brand new secret key of at least 32 bytes!"
    assert password_step(browser, ip="10.0.0.7").status_code == 303
    assert rows(app)[0].nonce_hash != old_hash  # the same row, hashed with the new key
    app.config["SECRET_KEY_FALLBACKS"] = []
    lock_the_account(client, clock)
    assert password_step(browser, ip="10.0.0.7").status_code == 303


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
            "chrome/linux",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36",
            "chrome/linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36 Edg/131.0",
            "edge/windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Version/18.1 Safari/605.1.15",
            "safari/macos",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) CriOS/131.0 Safari/604.1",
            "chrome/ios",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0 Mobile Safari/537.36",
            "chrome/android",
        ),
        ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "firefox/android"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/131.0 Safari/537.36", "chrome/chromeos"),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36 OPR/115.0", "opera/windows"),
        ("curl/8.5.0", "other/other"),
        ("", "other/other"),
        ("x" * 5000 + "Firefox/1", "other/other"),  # past 512 characters nothing is read
    ],
)
def test_the_label_is_the_browser_family_and_the_system_only(agent: str, label: str) -> None:
    assert user_agent.coarse_label(agent) == label
    assert user_agent.parts(label) == tuple(label.split("/"))
    assert user_agent.parts("<script>/../") == ("other", "other")
