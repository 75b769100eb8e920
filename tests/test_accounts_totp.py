"""The second factor: enrolment, codes accepted once, recovery codes, the ADMIN_2FA modes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer import create_app
from mailer.accounts import policy, totp
from mailer.config_check import ConfigError
from mailer.extensions import db
from mailer.models import Editor, RecoveryCode
from tests.accounts_helpers import (
    FakeClock,
    code_at,
    code_step,
    enrol,
    form_post,
    install_clock,
    make_editor,
    password_step,
    shown_recovery_codes,
    shown_secret,
)
from tests.conftest import TEST_SECRET


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    return install_clock(app)


@pytest.fixture
def editor(app: Flask) -> int:
    return make_editor(app)


def signed_in(client: FlaskClient) -> bool:
    return client.get("/admin/").status_code == 200


def logout(client: FlaskClient) -> None:
    assert form_post(client, "/admin/logout", {}, page="/admin/").status_code == 303


def test_a_code_signs_in_once_and_the_next_step_signs_in_again(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _ = enrol(app, editor)
    assert password_step(client).headers["Location"] == "/admin/login/code"
    assert not signed_in(client)  # the password alone is not a session
    code = code_at(app, secret)
    assert code_step(client, code[:3] + " " + code[3:]).status_code == 303
    assert signed_in(client)
    logout(client)
    assert password_step(client).status_code == 303
    replay = code_step(client, code)
    assert replay.status_code == 422 and "already used" in replay.get_data(as_text=True)
    clock.advance(seconds=30)
    assert code_step(client, code_at(app, secret)).status_code == 303


def test_codes_of_neighbouring_steps_only(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _ = enrol(app, editor)
    password_step(client)
    assert code_step(client, code_at(app, secret, 3)).status_code == 422
    assert code_step(client, code_at(app, secret, 1)).status_code == 303  # clock drift


def test_a_recovery_code_works_once(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    _, codes = enrol(app, editor)
    assert len(codes) == len(set(codes)) == 10
    password_step(client)
    assert code_step(client, codes[3].upper()).status_code == 303
    logout(client)
    password_step(client)
    assert code_step(client, codes[3]).status_code == 422
    assert code_step(client, codes[4]).status_code == 303
    with app.app_context():
        used = db.session.scalar(
            select(func.count(RecoveryCode.id)).where(RecoveryCode.used_at.is_not(None))
        )
        assert used == 2
        hashes = set(db.session.scalars(select(RecoveryCode.code_hash)))
        assert not any(code.replace("-", "") in h for code in codes for h in hashes)


def test_the_secret_is_stored_encrypted(app: Flask, clock: FakeClock, editor: int) -> None:
    secret, _ = enrol(app, editor)
    with app.app_context():
        found = db.session.get(Editor, editor)
        assert found is not None and found.totp_secret is not None
        assert secret not in found.totp_secret
        assert totp.decrypt(found.totp_secret) == secret


def test_the_pending_sign_in_expires(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, _ = enrol(app, editor)
    password_step(client)
    clock.advance(minutes=6)
    response = form_post(client, "/admin/login/code", {"code": "123456"}, page="/admin/login")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert client.get("/admin/login/code").status_code == 303
    assert not signed_in(client)


def test_the_code_page_needs_the_password_first(client: FlaskClient) -> None:
    for url in ("/admin/login/code", "/admin/login/enrol"):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["Location"] == "/admin/login"


def test_enrol_from_the_account_page_with_optional_2fa(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    assert password_step(client).status_code == 303
    account = client.get("/admin/account").get_data(as_text=True)
    assert "Set up two-factor authentication" in account
    page = client.get("/admin/account/2fa").get_data(as_text=True)
    assert "<svg" in page and 'class="segno"' in page  # the QR code, drawn here
    secret = shown_secret(page)
    wrong = form_post(client, "/admin/account/2fa", {"code": "000000"})
    assert wrong.status_code == 422 and "does not match" in wrong.get_data(as_text=True)
    assert shown_secret(wrong.get_data(as_text=True)) == secret  # the same secret meanwhile
    done = form_post(client, "/admin/account/2fa", {"code": code_at(app, secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = shown_recovery_codes(done.get_data(as_text=True))
    assert len(codes) == 10
    account = client.get("/admin/account").get_data(as_text=True)
    assert "Recovery codes left: 10 of 10" in account and secret not in account
    again = client.get("/admin/account/2fa")
    assert again.status_code == 303  # never shown again
    logout(client)
    password_step(client)
    clock.advance(seconds=30)
    assert code_step(client, codes[0]).status_code == 303


def test_new_recovery_codes_replace_the_old_ones(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, old = enrol(app, editor)
    password_step(client)
    code_step(client, code_at(app, secret))
    response = form_post(client, "/admin/account/recovery-codes", {}, page="/admin/account")
    new = shown_recovery_codes(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    logout(client)
    password_step(client)
    assert code_step(client, old[0]).status_code == 422
    assert code_step(client, new[0]).status_code == 303


class TestRequired:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"ADMIN_2FA": "required"}

    def test_first_sign_in_enrols_before_any_admin_page(
        self, app: Flask, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        response = password_step(client)
        assert response.headers["Location"] == "/admin/login/enrol"
        assert not signed_in(client)
        page = client.get("/admin/login/enrol").get_data(as_text=True)
        secret = shown_secret(page)
        done = form_post(client, "/admin/login/enrol", {"code": code_at(app, secret)})
        assert (
            done.status_code == 200 and len(shown_recovery_codes(done.get_data(as_text=True))) == 10
        )
        assert signed_in(client)

    def test_an_editor_without_a_second_factor_is_sent_to_enrol(
        self, app: Flask, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        app.config["ADMIN_2FA"] = "optional"
        assert password_step(client).status_code == 303
        app.config["ADMIN_2FA"] = "required"
        response = client.get("/admin/subscribers")
        assert response.status_code == 302 and response.headers["Location"] == "/admin/account/2fa"
        assert client.get("/admin/account/2fa").status_code == 200


class TestOff:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"ADMIN_2FA": "off"}

    def test_the_password_alone_signs_in(
        self, app: Flask, client: FlaskClient, clock: FakeClock, editor: int
    ) -> None:
        enrol(app, editor)
        assert password_step(client).headers["Location"] == "/admin/"
        assert signed_in(client)


def test_the_default_mode_follows_mailer_env() -> None:
    assert policy.second_factor_mode({"MAILER_ENV": "production"}) == "required"
    assert policy.second_factor_mode({"MAILER_ENV": "development"}) == "optional"
    assert policy.second_factor_mode({"MAILER_ENV": "production", "ADMIN_2FA": "Off"}) == "off"


def test_a_bad_mode_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="ADMIN_2FA='sometimes': use required, optional or off"):
        create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET, "ADMIN_2FA": "sometimes"})


def test_new_recovery_codes_need_a_recent_sign_in(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    secret, old = enrol(app, editor)
    password_step(client)
    code_step(client, code_at(app, secret))
    for _ in range(2):
        clock.advance(minutes=3)
        assert signed_in(client)
    response = form_post(client, "/admin/account/recovery-codes", {}, page="/admin/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/reauth?next=/admin/account"
    with app.app_context():
        assert db.session.scalar(select(func.count(RecoveryCode.id))) == len(old)
        left = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(left) == 10  # the old codes still stand
