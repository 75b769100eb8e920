"""Shared by the editor-account tests: an injected clock, sign-in steps, enrolment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from mailer import clock as clock_module
from mailer.accounts import totp
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import Editor
from tests.conftest import csrf_token

PASSWORD = "correct horse battery staple"
EMAIL = "editor@example.org"
START = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def install_clock(app: Flask) -> FakeClock:
    fake = FakeClock()
    app.extensions[clock_module.EXTENSION] = fake
    return fake


def make_editor(app: Flask, email: str = EMAIL, password: str = PASSWORD) -> int:
    with app.app_context():
        editor = create_editor(email, password)
        db.session.commit()
        return editor.id


def enrol(app: Flask, editor_id: int) -> tuple[str, list[str]]:
    """Enrol the editor directly (the pages are tested on their own): secret, codes."""
    with app.app_context():
        editor = db.session.get(Editor, editor_id)
        assert editor is not None
        secret = pyotp.random_base32()
        codes = totp.enrol(editor, secret, code_at(app, secret, -1))
        assert codes is not None
        db.session.commit()
        return secret, codes


def code_at(app: Flask, secret: str, steps: int = 0) -> str:
    """The code for the app's current time step (plus `steps`)."""
    with app.app_context():
        return pyotp.TOTP(secret).generate_otp(totp.current_step() + steps)


def form_post(
    client: FlaskClient, url: str, data: dict[str, Any], page: str | None = None, **kw: Any
) -> Any:
    html = client.get(page or url, **kw).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data}, **kw)


def password_step(
    client: FlaskClient, email: str = EMAIL, password: str = PASSWORD, ip: str = "10.0.0.1"
) -> Any:
    return form_post(
        client,
        "/admin/login",
        {"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def code_step(client: FlaskClient, code: str, ip: str = "10.0.0.1") -> Any:
    return form_post(client, "/admin/login/code", {"code": code}, environ_base={"REMOTE_ADDR": ip})


def shown_secret(html: str) -> str:
    match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def shown_recovery_codes(html: str) -> list[str]:
    return re.findall(
        r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>", html
    )
