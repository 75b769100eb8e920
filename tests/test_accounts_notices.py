"""An editor is told by mail when their password changes, when a second factor is enrolled and
when an owner (or the operator) removes it: "if this was not you, tell an owner". The mail
reaches the in-process SMTP server, DKIM-signed; it holds no secret, no client address, no link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dkim
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.tasks.accounts import send_editor_notice
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
    shown_secret,
)
from tests.conftest import SmtpServer, queued_tasks
from tests.role_helpers import ROLES, make_editors
from tests.role_helpers import login as role_login
from tests.test_dkim import DOMAIN, SELECTOR, DnsFunc, rsa_key

NEW_PASSWORD = "seven otters under a bridge"
CLIENT_IP = "198.51.100.23"


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    return install_clock(app)


@pytest.fixture
def dnsfunc(app: Flask, tmp_path: Path) -> DnsFunc:
    pem, dnsfunc = rsa_key(1024)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    app.config.update(
        DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN, DKIM_PRIVATE_KEY_PATH=str(key_file)
    )
    return dnsfunc


def deliver_notices(app: Flask, smtp_server: SmtpServer, dnsfunc: DnsFunc) -> list[Any]:
    """Run the queued notice tasks as the worker would; the mails the SMTP server got."""
    smtp_server.clear()
    tasks = [(n, a) for n, a in queued_tasks(app) if n == "mailer.send_editor_notice"]
    assert tasks, queued_tasks(app)
    for _name, args in tasks:
        assert all(isinstance(a, int | str) and "@" not in str(a) for a in args)  # ids only
        with app.app_context():
            send_editor_notice(*args)
    received = smtp_server.wait_for(len(tasks))
    for message in received:
        assert dkim.verify(message.raw, dnsfunc=dnsfunc)
    return received


def text_of(message: Any) -> str:
    body = message.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def no_secrets(message: Any, *secrets: str) -> None:
    raw = message.raw.decode(errors="replace")
    for secret in (CLIENT_IP, "127.0.0.1", "10.0.0.1", *secrets):
        assert secret not in raw
    assert not re.search(r"https?://", text_of(message))


def test_a_password_change_is_mailed_to_the_editor(
    app: Flask, client: FlaskClient, clock: FakeClock, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    make_editor(app)
    assert password_step(client, ip=CLIENT_IP).status_code == 303
    response = form_post(
        client,
        "/admin/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        environ_base={"REMOTE_ADDR": CLIENT_IP},
    )
    assert response.status_code == 303
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [EMAIL]
    assert mail.message["Subject"] == "Your editor password was changed"
    text = text_of(mail)
    assert "30 November 2026, 12:00 UTC" in text
    assert "If this was not you, tell an owner" in text
    no_secrets(mail, PASSWORD, NEW_PASSWORD)


def test_a_wrong_current_password_sends_nothing(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    make_editor(app)
    password_step(client)
    response = form_post(
        client,
        "/admin/account/password",
        {"current": "not it at all", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert queued_tasks(app) == []


def test_enrolling_a_second_factor_is_mailed(
    app: Flask, client: FlaskClient, clock: FakeClock, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    make_editor(app)
    password_step(client)
    page = client.get("/admin/account/2fa").get_data(as_text=True)
    secret = shown_secret(page)
    response = form_post(client, "/admin/account/2fa", {"code": code_at(app, secret)})
    assert response.status_code == 200 and "recovery codes" in response.get_data(as_text=True)
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.message["Subject"] == (
        "Two-factor authentication was set up on your editor account"
    )
    assert "If this was not you, tell an owner" in text_of(mail)
    no_secrets(mail, secret, code_at(app, secret))


def test_enrolling_at_the_required_first_sign_in_is_mailed(
    app: Flask, client: FlaskClient, clock: FakeClock, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    app.config["ADMIN_2FA"] = "required"
    make_editor(app)
    assert password_step(client).headers["Location"].endswith("/admin/login/enrol")
    secret = shown_secret(client.get("/admin/login/enrol").get_data(as_text=True))
    response = form_post(client, "/admin/login/enrol", {"code": code_at(app, secret)})
    assert response.status_code == 200
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [EMAIL]
    no_secrets(mail, secret)


def test_an_owner_resetting_a_second_factor_is_mailed_to_the_editor(
    app: Flask, client: FlaskClient, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    ids = make_editors(app)
    secret, codes = enrol(app, ids["editor"])
    assert role_login(client, ROLES["owner"]).status_code == 303
    response = form_post(
        client, f"/admin/editors/{ids['editor']}/reset-2fa", {}, page="/admin/editors"
    )
    assert response.status_code == 303
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [ROLES["editor"]]
    assert mail.message["Subject"] == "An owner removed your two-factor authentication"
    text = text_of(mail)
    assert "If you did not, tell an owner" in text
    no_secrets(mail, secret, *codes, ROLES["owner"])


def test_the_operators_reset_is_mailed_too(
    app: Flask, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    editor = make_editor(app)
    enrol(app, editor)
    result = app.test_cli_runner().invoke(args=["editors", "reset-2fa", EMAIL])
    assert result.exit_code == 0, result.output
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [EMAIL]


def test_the_operator_setting_a_password_is_mailed_to_the_editor(
    app: Flask, clock: FakeClock, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    """`mailer create-editor` for an existing editor sets a new password: the same notice as
    the Account page's change, so a password set behind the editor's back does not go unseen."""
    make_editor(app)
    typed = app.test_cli_runner().invoke(
        args=["create-editor", "Editor@Example.org", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert typed.exit_code == 0, typed.output
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [EMAIL]
    assert mail.message["Subject"] == "Your editor password was changed"
    text = text_of(mail)
    assert "30 November 2026, 12:00 UTC" in text
    assert "If this was not you, tell an owner" in text
    no_secrets(mail, PASSWORD, NEW_PASSWORD)


def test_creating_a_new_editor_sends_no_notice(app: Flask) -> None:
    typed = app.test_cli_runner().invoke(
        args=["create-editor", "new.editor@example.org", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert typed.exit_code == 0, typed.output
    assert queued_tasks(app) == []


def test_a_password_the_policy_refuses_changes_nothing_and_sends_nothing(app: Flask) -> None:
    make_editor(app)
    typed = app.test_cli_runner().invoke(
        args=["create-editor", EMAIL, "--password-stdin"], input="password2026!\n"
    )
    assert typed.exit_code == 1 and "common, breached passwords" in typed.output
    assert queued_tasks(app) == []


def test_a_notice_for_an_editor_gone_since_sends_nothing(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    with app.app_context():
        send_editor_notice(999, "password", "2026-11-30T12:00:00+00:00")
    assert smtp_server.received == []


def full_sign_in(app: Flask, agent: str) -> FlaskClient:
    browser = app.test_client()
    data = {"email": EMAIL, "password": PASSWORD}
    kw: dict[str, Any] = {
        "environ_base": {"REMOTE_ADDR": CLIENT_IP},
        "headers": {"User-Agent": agent},
    }
    assert form_post(browser, "/admin/login", data, **kw).status_code == 303
    return browser


@pytest.mark.parametrize("button", ["one", "others"])
def test_forgetting_trusted_browsers_is_mailed_to_the_editor(
    app: Flask,
    clock: FakeClock,
    smtp_server: SmtpServer,
    dnsfunc: DnsFunc,
    button: str,
) -> None:
    """A thief who got past re-authentication and forgets the editor's browsers (to lock
    them out with a botnet) does not go unseen."""
    make_editor(app)
    laptop = full_sign_in(app, "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0")
    desk = full_sign_in(app, "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36")
    laptop_row = re.findall(r'<tr id="browser-(\d+)">', desk.get("/admin/account").get_data(True))[
        -1
    ]
    url = (
        f"/admin/account/browsers/{laptop_row}/forget"
        if button == "one"
        else "/admin/account/browsers/forget-others"
    )
    assert form_post(desk, url, {}, page="/admin/account").status_code == 303
    (mail,) = deliver_notices(app, smtp_server, dnsfunc)
    assert mail.rcpt_tos == [EMAIL]
    assert mail.message["Subject"] == "Trusted browsers of your editor account were forgotten"
    text = text_of(mail)
    assert "were forgotten on 30 November 2026, 12:00 UTC" in text
    assert "those browsers are signed out" in text
    assert "If this was not you, tell an owner" in text
    no_secrets(mail, PASSWORD)
    assert "Firefox" not in mail.raw.decode(errors="replace")  # nothing about the browser
    assert laptop.get("/admin/account").status_code == 302


def test_forgetting_no_browser_sends_nothing(app: Flask, clock: FakeClock) -> None:
    make_editor(app)
    desk = full_sign_in(app, "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36")
    response = form_post(desk, "/admin/account/browsers/forget-others", {}, page="/admin/account")
    assert response.status_code == 303
    assert queued_tasks(app) == []
