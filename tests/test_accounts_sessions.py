"""Sessions end when they should: server-side records, timeouts, revocation, re-auth."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.accounts import sessions
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import Editor, EditorSession, RecoveryCode, Subscriber
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    code_at,
    enrol,
    form_post,
    install_clock,
    make_editor,
    password_step,
)
from tests.conftest import csrf_token


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    return install_clock(app)


@pytest.fixture
def editor(app: Flask) -> int:
    return make_editor(app)


@pytest.fixture
def admin(client: FlaskClient, clock: FakeClock, editor: int) -> FlaskClient:
    assert password_step(client).status_code == 303
    return client


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/admin/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_no_remember_me_cookie_and_the_cookie_holds_only_a_random_id(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    response = password_step(client)
    assert "remember_token" not in " ".join(response.headers.getlist("Set-Cookie"))
    with client.session_transaction() as session:
        assert "sid" not in session  # Flask's (Lax) session holds no credential of the admin
    (header,) = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("admin_session=")
    ]
    assert "SameSite=Strict" in header and "HttpOnly" in header and "Path=/" in header
    cookie = client.get_cookie(sessions.ADMIN_COOKIE_HTTP)
    assert cookie is not None
    sid = cookie.value
    with app.app_context():
        (row,) = db.session.scalars(select(EditorSession)).all()
        assert row.editor_id == editor and sid not in row.id_hash and len(row.id_hash) == 64


def test_idle_timeout_ends_the_session(admin: FlaskClient, clock: FakeClock) -> None:
    for _ in range(4):  # in use: two hours, a request every 29 minutes
        clock.advance(minutes=29)
        assert signed_in(admin)
    clock.advance(minutes=30)
    response = admin.get("/admin/subscribers")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended. Log in again." in page


def test_absolute_timeout_ends_a_session_in_constant_use(
    admin: FlaskClient, clock: FakeClock
) -> None:
    for _ in range(35):  # 11 h 40 min
        clock.advance(minutes=20)
        assert signed_in(admin)
    clock.advance(minutes=19)
    assert signed_in(admin)
    clock.advance(minutes=2)  # 12 h 01 min after the sign-in
    assert not signed_in(admin)


class TestShorterLifetimes:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"ADMIN_SESSION_IDLE_MINUTES": 5, "ADMIN_SESSION_MAX_HOURS": 1}

    def test_the_settings_apply(self, admin: FlaskClient, clock: FakeClock) -> None:
        clock.advance(minutes=4)
        assert signed_in(admin)
        clock.advance(minutes=5, seconds=1)
        assert not signed_in(admin)


def copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    for name in ("session", sessions.ADMIN_COOKIE_HTTP):
        cookie = source.get_cookie(name)
        assert cookie is not None
        target.set_cookie(name, cookie.value)


def test_a_cookie_copied_before_logout_is_dead_after_it_from_any_address(
    app: Flask, admin: FlaskClient
) -> None:
    thief = app.test_client()
    copy_cookie(admin, thief)
    assert signed_in(thief)
    form_post(admin, "/admin/logout", {}, page="/admin/")
    for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}):
        response = thief.get("/admin/subscribers", headers=headers)
        assert response.status_code == 302


def test_logout_ends_every_session_of_the_editor(
    app: Flask, admin: FlaskClient, editor: int
) -> None:
    other = app.test_client()
    assert password_step(other).status_code == 303
    form_post(admin, "/admin/logout", {}, page="/admin/")
    assert not signed_in(other) and not signed_in(admin)


def test_log_out_everywhere_from_the_account_page(
    app: Flask, admin: FlaskClient, editor: int
) -> None:
    other = app.test_client()
    assert password_step(other).status_code == 303
    page = admin.get("/admin/account").get_data(as_text=True)
    assert "signed in on 2 browser(s)" in page
    response = admin.post("/admin/account/logout-everywhere", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert "Logged out everywhere: 2 session(s) ended" in admin.get("/admin/login").get_data(
        as_text=True
    )
    assert not signed_in(other) and not signed_in(admin)
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).where(EditorSession.revoked_at.is_(None))) == 0
        )


def test_a_new_password_ends_every_session(app: Flask, admin: FlaskClient) -> None:
    with app.app_context():
        create_editor(EMAIL, "another long password")
        db.session.commit()
    assert not signed_in(admin)


def test_reset_2fa_from_the_command_line(app: Flask, admin: FlaskClient, editor: int) -> None:
    enrol(app, editor)
    result = app.test_cli_runner().invoke(args=["editors", "reset-2fa", "Editor@Example.org"])
    assert result.exit_code == 0, result.output
    assert "second factor and recovery codes removed, every session ended" in result.output
    assert not signed_in(admin)
    with app.app_context():
        found = db.session.get(Editor, editor)
        assert found is not None and found.totp_secret is None and found.totp_last_step is None
        assert db.session.scalar(select(func.count(RecoveryCode.id))) == 0
    unknown = app.test_cli_runner().invoke(args=["editors", "reset-2fa", "nobody@example.org"])
    assert unknown.exit_code == 1 and "There is no editor with that address." in unknown.output


# --- re-authentication ------------------------------------------------------------------


@pytest.fixture
def subscriber_id(app: Flask) -> int:
    with app.app_context():
        found = Subscriber(email="reader@example.org")
        db.session.add(found)
        db.session.commit()
        return found.id


def stale(admin: FlaskClient, clock: FakeClock) -> None:
    """Six minutes after the sign-in, the session kept alive."""
    for _ in range(2):
        clock.advance(minutes=3)
        assert signed_in(admin)


def test_export_asks_for_the_password_again_after_five_minutes(
    admin: FlaskClient, clock: FakeClock
) -> None:
    assert admin.get("/admin/subscribers/export").status_code == 200  # just signed in
    stale(admin, clock)
    response = admin.get("/admin/subscribers/export?list=weekly")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/reauth?next=")
    wrong = form_post(admin, response.headers["Location"], {"password": "not it at all"})
    assert wrong.status_code == 422 and "The password is wrong." in wrong.get_data(as_text=True)
    right = form_post(admin, response.headers["Location"], {"password": PASSWORD})
    assert right.status_code == 303
    assert right.headers["Location"] == "/admin/subscribers/export?list=weekly"
    export = admin.get(right.headers["Location"])
    assert export.status_code == 200 and export.mimetype == "text/csv"


def test_erase_asks_again_and_erases_nothing_meanwhile(
    app: Flask, admin: FlaskClient, clock: FakeClock, subscriber_id: int
) -> None:
    stale(admin, clock)
    page = f"/admin/subscribers/{subscriber_id}"
    response = form_post(admin, f"{page}/erase", {}, page=page)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/reauth?next=/admin/subscribers/{subscriber_id}"
    with app.app_context():
        assert db.session.get(Subscriber, subscriber_id) is not None
    back = form_post(admin, response.headers["Location"], {"password": PASSWORD})
    assert back.headers["Location"] == page
    assert form_post(admin, f"{page}/erase", {}, page=page).status_code == 303
    with app.app_context():
        assert db.session.get(Subscriber, subscriber_id) is None


def import_upload(admin: FlaskClient, confirmed: bool) -> Any:
    html = admin.get("/admin/subscribers/import").get_data(as_text=True)
    data: dict[str, Any] = {
        "csrf_token": csrf_token(html),
        "list": "weekly",
        "file": (io.BytesIO(b"email\nnew.reader@example.org\n"), "people.csv"),
    }
    if confirmed:
        data["confirmed"] = "y"
    return admin.post("/admin/subscribers/import", data=data, content_type="multipart/form-data")


def test_only_a_confirmed_import_asks_again(admin: FlaskClient, clock: FakeClock) -> None:
    stale(admin, clock)
    confirmed = import_upload(admin, confirmed=True)
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"].startswith("/admin/reauth?next=/admin/subscribers/import")
    pending = import_upload(admin, confirmed=False)
    assert (
        pending.status_code == 303 and "/admin/subscribers/imports/" in pending.headers["Location"]
    )


def test_reauth_with_a_second_factor_needs_the_code_and_counts_failures(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _codes = enrol(app, editor)
    assert password_step(client).status_code == 303
    assert form_post(client, "/admin/login/code", {"code": code_at(app, secret)}).status_code == 303
    stale(client, clock)
    url = "/admin/reauth?next=/admin/subscribers/export"
    page = client.get(url).get_data(as_text=True)
    assert "Code from your authenticator app" in page
    only_password = form_post(client, url, {"password": PASSWORD, "code": ""})
    assert only_password.status_code == 422
    ok = form_post(client, url, {"password": PASSWORD, "code": code_at(app, secret)})
    assert ok.status_code == 303 and ok.headers["Location"] == "/admin/subscribers/export"


def test_reauth_refuses_an_off_site_next(admin: FlaskClient) -> None:
    response = form_post(admin, "/admin/reauth?next=//evil.example/x", {"password": PASSWORD})
    assert response.headers["Location"] == "/admin/"


def test_reauth_needs_a_session(client: FlaskClient) -> None:
    response = client.get("/admin/reauth")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_retention_prunes_ended_sessions_old_events_and_forgotten_failures(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    from mailer import retention
    from mailer.models import LoginEvent, LoginThrottle

    password_step(client, password="a wrong one")
    assert password_step(client).status_code == 303
    other = app.test_client()
    assert password_step(other).status_code == 303
    form_post(other, "/admin/logout", {}, page="/admin/")
    password_step(client, email="nobody@example.org", password="guess")

    def counts() -> tuple[int, int, int]:
        with app.app_context():
            return (
                db.session.scalar(select(func.count()).select_from(EditorSession)) or 0,
                db.session.scalar(select(func.count()).select_from(LoginThrottle)) or 0,
                db.session.scalar(select(func.count()).select_from(LoginEvent)) or 0,
            )

    with app.app_context():
        retention.apply(clock.now + timedelta(hours=1))
    assert counts() == (2, 2, 2)  # sessions ended less than a day ago; failures remembered
    with app.app_context():
        retention.apply(clock.now + timedelta(days=2))
    assert counts() == (0, 0, 2)
    with app.app_context():
        retention.apply(clock.now + timedelta(days=91))
    assert counts() == (0, 0, 0)
