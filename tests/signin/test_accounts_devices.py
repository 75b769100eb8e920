"""Device cookies: strangers guessing cannot lock an editor out of the browser they signed in
with before (OWASP's device-cookie pattern; injected clock, never real waits)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from mailer.accounts import devices, service, throttle, totp
from mailer.extensions import db
from mailer.keys import derive
from mailer.models import AuditEvent, Editor, LoginEvent, LoginThrottle
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    code_at,
    code_step,
    enrol,
    form_post,
    make_editor,
    password_step,
)
from tests.conftest import TEST_SECRET

TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
OTHER = "other.editor@example.org"


def lock_the_account(client: FlaskClient, clock: FakeClock, email: str = EMAIL) -> None:
    """Six wrong passwords from six addresses, as a botnet would send them."""
    for i in range(6):
        response = password_step(client, email=email, password=f"guess {i}", ip=f"198.51.100.{i}")
        assert response.status_code == 422
        clock.advance(minutes=2)  # past every back-off: the 6th failure locks


def device_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(devices.COOKIE_HTTP)
    return cookie.value if cookie else None


def signed_in_device(app: Flask, email: str = EMAIL) -> FlaskClient:
    device = app.test_client()
    assert password_step(device, email=email, ip="10.0.0.7").status_code == 303
    assert device_cookie(device)
    return device


def test_a_full_sign_in_sets_a_long_lived_httponly_cookie_holding_no_address(
    client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    response = password_step(client)
    assert response.status_code == 303
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("editor_")]
    assert "HttpOnly" in header and "Path=/;" in header and "SameSite=Strict" in header
    assert "Max-Age=15552000" in header  # 180 days
    assert "Secure" not in header  # BASE_URL is http in the tests
    value = device_cookie(client)
    assert value is not None and "editor" not in value.lower() and "example" not in value
    key = derive(TEST_SECRET, "editor-device")
    data = URLSafeTimedSerializer(key, salt="mailer.editor-device").loads(value)
    assert set(data) == {"e", "d", "n"} and data["e"] == editor and len(data["n"]) >= 20


def test_the_cookie_is_secure_when_the_site_is_https(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    app.config["BASE_URL"] = "https://news.example.org"
    response = form_post(
        client,
        "/admin/login",
        {"email": EMAIL, "password": PASSWORD},
        base_url="https://localhost",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.status_code == 303
    (header,) = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-editor_device=")
    ]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/;", "Max-Age=15552000"):
        assert flag in header
    assert "Domain" not in header  # __Host-: this host only, never a parent domain's cookie
    assert not [h for h in response.headers.getlist("Set-Cookie") if h.startswith("editor_")]


def test_no_cookie_after_the_password_alone_only_after_the_second_factor(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _codes = enrol(app, editor)
    assert password_step(client).status_code == 303
    assert device_cookie(client) is None
    clock.advance(seconds=30)
    assert code_step(client, code_at(app, secret)).status_code == 303
    assert device_cookie(client) is not None


def test_strangers_lock_the_account_but_not_the_editors_own_browser(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    device = signed_in_device(app)
    lock_the_account(client, clock)
    fresh = app.test_client()
    assert password_step(fresh, ip="10.0.0.7").status_code == 429  # even from the editor's IP
    response = password_step(device, ip="10.0.0.7")
    assert response.status_code == 303
    assert device.get("/admin/").status_code == 200
    assert password_step(fresh, ip="203.0.113.5").status_code == 429  # still locked for others


def test_the_device_gets_in_with_a_second_factor_while_the_account_is_locked(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _codes = enrol(app, editor)
    device = app.test_client()
    assert password_step(device).status_code == 303
    assert code_step(device, code_at(app, secret)).status_code == 303
    for i in range(6):  # the stolen password is right; the codes are guessed
        assert password_step(client, ip=f"198.51.100.{i}").status_code == 303
        assert code_step(client, "123456", ip=f"198.51.100.{i}").status_code == 422
        clock.advance(minutes=2)
    assert password_step(client, ip="203.0.113.5").status_code == 429
    assert password_step(device).status_code == 303
    assert code_step(device, code_at(app, secret)).status_code == 303
    assert device.get("/admin/").status_code == 200


def test_failures_from_the_device_count_against_the_device_only(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    device = signed_in_device(app)
    for i in range(3):
        assert password_step(device, password=f"typo {i}").status_code == 422
    assert password_step(device).status_code == 429  # the device's own back-off
    assert password_step(client, ip="203.0.113.5").status_code == 303  # the account is not
    with app.app_context():
        account = "a:" + throttle.account_hash(EMAIL)
        assert db.session.get(LoginThrottle, account) is None
        outcomes = db.session.scalars(select(LoginEvent.outcome)).all()
        details = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "login.failure")
        ).all()
    assert outcomes == ["password"] * 3  # audited as before
    assert details == [{"step": "password", "device": "trusted"}] * 3


def test_a_device_locked_by_its_own_failures_is_an_untrusted_client_again(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    device = signed_in_device(app)
    for i in range(6):
        assert password_step(device, password=f"typo {i}").status_code == 422
        clock.advance(minutes=2)
    with app.app_context():
        assert db.session.get(LoginThrottle, "a:" + throttle.account_hash(EMAIL)) is None
    lock_the_account(client, clock)  # its cookie no longer shields it from the account's lock
    assert password_step(device).status_code == 429


def test_a_locked_device_that_signs_in_fully_is_trusted_again(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    device = signed_in_device(app)
    for i in range(6):
        assert password_step(device, password=f"typo {i}").status_code == 422
        clock.advance(minutes=2)
    assert password_step(device).status_code == 303  # untrusted now, the account unlocked
    lock_the_account(client, clock)
    assert password_step(device).status_code == 303  # its failures were forgotten


def test_a_device_cookie_of_one_editor_does_not_help_another(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    make_editor(app, OTHER)
    device = signed_in_device(app)  # EMAIL's browser
    lock_the_account(client, clock, email=OTHER)
    assert password_step(device, email=OTHER).status_code == 429


def test_a_forged_or_altered_cookie_is_ignored(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    genuine = device_cookie(signed_in_device(app))
    assert genuine is not None
    lock_the_account(client, clock)
    forged = app.test_client()
    with app.app_context():
        other_key = URLSafeTimedSerializer(b"not our key" * 4, salt="mailer.editor-device")
        forged.set_cookie(devices.COOKIE_HTTP, other_key.dumps({"e": editor, "n": "x" * 24}))
    assert password_step(forged).status_code == 429
    altered = app.test_client()
    tail = "BB" if genuine.endswith("AA") else "AA"
    altered.set_cookie(devices.COOKIE_HTTP, genuine[:-2] + tail)
    assert password_step(altered).status_code == 429
    untouched = app.test_client()
    untouched.set_cookie(devices.COOKIE_HTTP, genuine)
    assert password_step(untouched).status_code == 303  # the genuine one still counts


def test_re_authentication_from_the_device_works_while_the_account_is_locked(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    device = signed_in_device(app)
    lock_the_account(client, clock)
    response = form_post(device, "/admin/reauth?next=/admin/", {"password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("change", ["password", "second factor reset", "disabled"])
def test_a_new_password_a_reset_or_disabling_makes_old_device_cookies_worthless(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int, change: str
) -> None:
    """A cookie copied once (a stolen laptop, a synced profile) must not keep its own
    guessing budget past the editor's new password, second factor or disabling: each of
    them forgets the editor's browsers (every such path: test_trusted_devices_credentials)."""
    device = signed_in_device(app)
    make_editor(app, OTHER)  # another owner: the editor is not the last one
    with app.app_context():
        row = db.session.get(Editor, editor)
        assert row is not None
        if change == "password":
            service.change_password(row, PASSWORD, "a brand new passphrase 2026")
        elif change == "second factor reset":
            totp.reset(row)
        else:
            service.disable(row)
        db.session.commit()
    lock_the_account(client, clock)
    assert password_step(device, ip="10.0.0.7").status_code == 429  # a stranger again


def test_a_trusted_attempt_gets_a_check_slot_when_strangers_hold_them_all(
    app: Flask, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, editor: int
) -> None:
    """A flood of sign-ins for made-up addresses keeps the password-check slots busy: the
    editor's own browser still has the kept one."""
    import threading

    from mailer.accounts import gate

    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(gate, "_slots", slots)
    monkeypatch.setattr(gate, "WAIT_SECONDS", 0.05)
    device = signed_in_device(app)
    fresh = app.test_client()
    assert slots.acquire(timeout=5)  # strangers' checks hold every ordinary slot
    try:
        assert password_step(fresh, ip="10.0.0.9").status_code == 503
        assert password_step(device, ip="10.0.0.7").status_code == 303
    finally:
        slots.release()
