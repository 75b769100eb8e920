"""The Account page's trusted browsers: listed, forgotten one by one or all but this one
(POST, CSRF, audited, only the editor's own), and forgotten all at once by a new password,
a second factor enrolled or reset, or disabling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.accounts import devices
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import AuditEvent, TrustedDevice
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    code_at,
    enrol,
    form_post,
    make_editor,
    password_step,
    shown_secret,
)
from tests.conftest import csrf_token

OTHER = "other.editor@example.org"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@pytest.fixture
def editor(app: Flask, clock: FakeClock) -> int:
    """The editor made on the fake clock (the package's editor is made on the real one)."""
    return make_editor(app)


def sign_in(
    app: Flask, agent: str = CHROME, email: str = EMAIL, secret: str | None = None
) -> FlaskClient:
    """A complete sign-in from a new browser (with a code when `secret` is given)."""
    browser = app.test_client()
    kw: dict[str, Any] = {
        "environ_base": {"REMOTE_ADDR": "10.0.0.7"},
        "headers": {"User-Agent": agent},
    }
    data = {"email": email, "password": PASSWORD}
    assert form_post(browser, "/admin/login", data, **kw).status_code == 303
    if secret is not None:
        code = {"code": code_at(app, secret)}
        assert form_post(browser, "/admin/login/code", code, **kw).status_code == 303
    assert browser.get_cookie(devices.COOKIE_HTTP) is not None
    return browser


def listed(browser: FlaskClient) -> list[tuple[int, str]]:
    """(id, text of the first cell) of each row of the page's trusted browsers."""
    page = browser.get("/admin/account").get_data(as_text=True)
    cells = re.findall(r'<tr id="browser-(\d+)"><td>(.*?)</td>', page)
    return [(int(i), re.sub(r"<[^>]+>", "", text)) for i, text in cells]


def post(browser: FlaskClient, url: str, data: dict[str, str] | None = None) -> Any:
    return form_post(browser, url, data or {}, page="/admin/account")


def device_ids(app: Flask, editor_id: int | None = None) -> list[int]:
    with app.app_context():
        query = select(TrustedDevice.id).order_by(TrustedDevice.id)
        if editor_id is not None:
            query = query.where(TrustedDevice.editor_id == editor_id)
        return list(db.session.scalars(query))


def forget_events(app: Flask) -> list[tuple[int | None, str | None, dict[str, Any]]]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "forget_devices").order_by(AuditEvent.id)
        )
        return [(e.editor_id, e.object_ids, e.detail) for e in events]


def lock_the_account(client: FlaskClient, clock: FakeClock) -> None:
    for i in range(6):
        assert password_step(client, password=f"guess {i}", ip=f"198.51.100.{i}").status_code == 422
        clock.advance(minutes=2)


def test_the_page_lists_them_and_one_forgotten_is_a_stranger_again(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    laptop = sign_in(app, FIREFOX)
    clock.advance(minutes=5)
    desk = sign_in(app, CHROME)
    laptop_id, desk_id = device_ids(app)
    assert listed(desk) == [
        (desk_id, "Chrome on Linux (this browser)"),
        (laptop_id, "Firefox on Windows"),
    ]
    page = desk.get("/admin/account").get_data(as_text=True)
    assert '<time datetime="2026-11-30T12:00:00+00:00">2026-11-30 12:00</time>' in page
    assert 'aria-label="Forget Firefox on Windows, last used 2026-11-30 12:00"' in page

    response = post(desk, f"/admin/account/browsers/{laptop_id}/forget")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/account"
    page = desk.get("/admin/account").get_data(as_text=True)
    assert "That browser is no longer trusted, and your other sessions have ended." in page
    assert device_ids(app) == [desk_id]
    assert forget_events(app) == [
        (editor, str(laptop_id), {"editor": editor, "reason": "forgotten"})
    ]

    lock_the_account(client, clock)  # strangers lock the account...
    assert password_step(laptop, ip="10.0.0.7").status_code == 429  # ...and the lost laptop
    assert password_step(desk, ip="10.0.0.7").status_code == 303  # not the editor's desk


def test_forget_all_other_browsers_keeps_this_one(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    first, second = sign_in(app, FIREFOX), sign_in(app, FIREFOX)
    here = sign_in(app, CHROME)
    first_id, second_id, here_id = device_ids(app)
    response = post(here, "/admin/account/browsers/forget-others")
    assert response.status_code == 303
    page = here.get("/admin/account").get_data(as_text=True)
    assert "2 other browser(s) forgotten, and your other sessions have ended." in page
    assert "Forget all other browsers" not in page  # none left
    assert device_ids(app) == [here_id]
    assert forget_events(app) == [
        (editor, f"{first_id},{second_id}", {"editor": editor, "reason": "others"})
    ]
    lock_the_account(client, clock)
    for browser in (first, second):
        assert password_step(browser, ip="10.0.0.7").status_code == 429
    assert password_step(here, ip="10.0.0.7").status_code == 303


def test_forgetting_this_browser_drops_its_cookie_and_signs_it_out(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    here = sign_in(app)
    (here_id,) = device_ids(app)
    response = post(here, f"/admin/account/browsers/{here_id}/forget")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert here.get_cookie(devices.COOKIE_HTTP) is None
    assert device_ids(app) == []
    assert password_step(here).status_code == 303  # signed out: it signs in again
    page = here.get("/admin/account").get_data(as_text=True)
    assert "(this browser)" in page  # trusted anew, in a new row
    assert device_ids(app) != [here_id]


def test_an_editor_cannot_forget_another_editors_browser(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    sign_in(app)
    (theirs,) = device_ids(app, editor)
    make_editor(app, OTHER)
    other = sign_in(app, email=OTHER)
    assert post(other, f"/admin/account/browsers/{theirs}/forget").status_code == 404
    assert post(other, "/admin/account/browsers/999999/forget").status_code == 404
    assert other.get(f"/admin/account/browsers/{theirs}/forget").status_code == 405
    no_token = other.post(f"/admin/account/browsers/{theirs}/forget")
    assert no_token.status_code == 400
    assert device_ids(app, editor) == [theirs]  # nothing deleted
    assert post(other, "/admin/account/browsers/forget-others").status_code == 303
    assert device_ids(app, editor) == [theirs]  # "others" are the editor's own only
    assert [e for e in forget_events(app) if e[1] and str(theirs) in e[1].split(",")] == []


def change_credentials(app: Flask, change: str, here: FlaskClient, editor: int) -> None:
    if change == "own password":
        new = "a brand new passphrase 2026"
        data = {"current": PASSWORD, "password": new, "confirm": new}
        response = form_post(here, "/admin/account/password", data, headers={"User-Agent": CHROME})
        assert response.status_code == 303
    elif change == "own second factor":
        html = here.get("/admin/account/2fa").get_data(as_text=True)
        data = {"csrf_token": csrf_token(html), "code": code_at(app, shown_secret(html))}
        response = here.post("/admin/account/2fa", data=data, headers={"User-Agent": CHROME})
        assert response.status_code == 200  # the recovery codes
    elif change == "operator sets a password":
        with app.app_context():
            create_editor(EMAIL, "a brand new passphrase 2026")
            db.session.commit()
    elif change == "operator resets the second factor":
        result = app.test_cli_runner().invoke(args=["editors", "reset-2fa", EMAIL])
        assert result.exit_code == 0, result.output
    else:
        owner = sign_in(app, email=OTHER)  # an owner too (the default role)
        action = "disable" if change == "owner disables" else "reset-2fa"
        url = f"/admin/editors/{editor}/{action}"
        assert form_post(owner, url, {}, page="/admin/editors").status_code == 303


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("own password", "password"),
        ("own second factor", "second_factor"),
        ("operator sets a password", "password"),
        ("operator resets the second factor", "second_factor_reset"),
        ("owner resets the second factor", "second_factor_reset"),
        ("owner disables", "disabled"),
    ],
)
def test_changed_credentials_forget_every_browser(
    app: Flask, clock: FakeClock, editor: int, change: str, reason: str
) -> None:
    other = make_editor(app, OTHER)
    secret = enrol(app, editor)[0] if "resets the second factor" in change else None
    sign_in(app, FIREFOX, secret=secret)
    clock.advance(seconds=30)  # a code works once: the next step's
    here = sign_in(app, CHROME, secret=secret)
    before = device_ids(app, editor)
    assert len(before) == 2
    change_credentials(app, change, here, editor)
    after = device_ids(app, editor)
    by = {"own": editor, "owner": other, "operator": None}[change.split()[0]]
    mine = [e for e in forget_events(app) if e[2]["editor"] == editor]
    assert mine == [(by, ",".join(map(str, before)), {"editor": editor, "reason": reason})]
    if change.startswith("own "):  # this browser just gave everything: trusted anew
        (new,) = after
        assert new not in before
        assert listed(here) == [(new, "Chrome on Linux (this browser)")]
    else:
        assert after == []
