"""Forgetting trusted browsers on the Account page: both buttons ask for the password (and
code) again once the session's sign-in is a few minutes old, as the page's other sensitive
actions do; a forgotten browser is signed out too (every other session of the editor ends);
an id no row can have is a 404. The notice mail is in tests/test_accounts_notices.py."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.accounts import devices
from tests.accounts_helpers import (
    PASSWORD,
    FakeClock,
    form_post,
    make_editor,
    password_step,
)
from tests.signin.test_trusted_devices_page import (
    CHROME,
    FIREFOX,
    device_ids,
    listed,
    lock_the_account,
    post,
    sign_in,
)


@pytest.fixture
def editor(app: Flask, clock: FakeClock) -> int:
    """The editor made on the fake clock (the package's editor is made on the real one)."""
    return make_editor(app)


def signed_in(browser: FlaskClient) -> bool:
    response = browser.get("/admin/account")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def keep_alive(browsers: tuple[FlaskClient, ...], clock: FakeClock, minutes: int) -> None:
    """`minutes` pass with the sessions in use (past the re-authentication window)."""
    for _ in range(minutes // 3):
        clock.advance(minutes=3)
        for browser in browsers:
            assert signed_in(browser)


def test_a_forgotten_browser_is_signed_out_and_the_page_says_so(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    laptop = sign_in(app, FIREFOX)
    desk = sign_in(app, CHROME)
    laptop_id, desk_id = device_ids(app)
    page = desk.get("/admin/account").get_data(as_text=True)
    assert "Forgetting a browser also signs it out" in page
    response = post(desk, f"/admin/account/browsers/{laptop_id}/forget")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/account"
    assert not signed_in(laptop)  # its session ended with its trust
    assert signed_in(desk)
    assert device_ids(app) == [desk_id]


def test_forgetting_every_other_browser_signs_them_all_out(
    app: Flask, clock: FakeClock, editor: int
) -> None:
    first, second = sign_in(app, FIREFOX), sign_in(app, FIREFOX)
    here = sign_in(app, CHROME)
    assert post(here, "/admin/account/browsers/forget-others").status_code == 303
    assert not signed_in(first) and not signed_in(second)
    assert signed_in(here)
    assert len(device_ids(app)) == 1


def test_forgetting_this_browser_signs_it_out(app: Flask, clock: FakeClock, editor: int) -> None:
    other = sign_in(app, FIREFOX)
    here = sign_in(app, CHROME)
    here_id = device_ids(app)[-1]
    response = post(here, f"/admin/account/browsers/{here_id}/forget")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert here.get_cookie(devices.COOKIE_HTTP) is None
    assert not signed_in(here) and not signed_in(other)
    page = here.get("/admin/login").get_data(as_text=True)
    assert "This browser is no longer trusted, and you are signed out." in page


@pytest.mark.parametrize("button", ["one", "others"])
def test_both_buttons_ask_for_the_password_again_after_a_few_minutes(
    app: Flask, clock: FakeClock, editor: int, button: str
) -> None:
    laptop = sign_in(app, FIREFOX)
    desk = sign_in(app, CHROME)
    laptop_id, desk_id = device_ids(app)
    url = (
        f"/admin/account/browsers/{laptop_id}/forget"
        if button == "one"
        else "/admin/account/browsers/forget-others"
    )
    keep_alive((laptop, desk), clock, minutes=6)
    asked = post(desk, url)
    assert asked.status_code == 303
    assert asked.headers["Location"] == "/admin/reauth?next=/admin/account"
    assert device_ids(app) == [laptop_id, desk_id]  # nothing forgotten meanwhile
    assert signed_in(laptop)
    back = form_post(desk, asked.headers["Location"], {"password": PASSWORD})
    assert back.status_code == 303 and back.headers["Location"] == "/admin/account"
    assert post(desk, url).status_code == 303
    assert device_ids(app) == [desk_id]
    assert listed(desk) == [(desk_id, "Chrome on Linux (this browser)")]


def test_a_stolen_session_cannot_strip_the_editors_browsers_for_a_botnet(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    """A thief holding a session (not the password) presses "Forget all other browsers";
    strangers then lock the account: the editor's own browser must still get in."""
    stolen = sign_in(app, FIREFOX)
    desk = sign_in(app, CHROME)
    before = device_ids(app)
    keep_alive((stolen,), clock, minutes=6)
    response = post(stolen, "/admin/account/browsers/forget-others")
    assert response.headers["Location"].startswith("/admin/reauth")
    assert device_ids(app) == before
    lock_the_account(client, clock)
    assert password_step(desk, ip="10.0.0.7").status_code == 303


@pytest.mark.parametrize("device_id", [0, 2**31, 2**63, 2**64, 10**40])
def test_an_id_no_row_can_have_is_a_404(
    app: Flask, clock: FakeClock, editor: int, device_id: int
) -> None:
    desk = sign_in(app)
    assert post(desk, f"/admin/account/browsers/{device_id}/forget").status_code == 404
    assert len(device_ids(app)) == 1
    assert signed_in(desk)
