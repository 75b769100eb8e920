"""A real Chromium signs in as an editor: TOTP enrolment, codes, recovery codes, lockout from
many addresses behind a trusted proxy, "Log out everywhere" and re-authentication.

The app runs in this process (a threaded Werkzeug server on loopback) with an injected
clock: the test moves time forward instead of waiting for a new TOTP step or a lock's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from mailer import create_app
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    code_at,
    install_clock,
    make_editor,
)
from tests.conftest import SmtpServer, base_config, clear_redis, dispose, redis_db, reset_database
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving

pytestmark = pytest.mark.browser

TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
NO_MATCH = "That email address and password do not match an editor."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"ADMIN_2FA": "required"}


@pytest.fixture
def site(
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    config_overrides: dict[str, Any],
) -> Iterator[tuple[Flask, str, FakeClock]]:
    redis_url = redis_db(redis_base_url, 7)
    clear_redis(redis_url)
    app = create_app({**base_config(database_url, redis_url, smtp_server.url), **config_overrides})
    reset_database(app)
    clock = install_clock(app)
    with serving(app) as base:
        yield app, base, clock
    dispose(app)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def second_step(page: Page, code: str) -> None:
    expect(page.get_by_role("heading", name="Second step: your code")).to_be_visible()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Continue").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name=f"Log out {EMAIL}").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_enrol_then_sign_in_with_a_code_and_with_a_recovery_code(
    site: tuple[Flask, str, FakeClock], page: Page
) -> None:
    app, base, clock = site
    make_editor(app)
    sign_in(page, base)
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(page.locator("figure.qr svg")).to_be_visible()  # the QR code, drawn by the server
    page.goto(f"{base}/admin/")  # no admin page before enrolling
    expect(page.get_by_role("heading", name="Editor login")).to_be_visible()
    sign_in(page, base)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code shown by the app").fill("000000")
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_text("That code does not match.")).to_be_visible()
    page.get_by_label("Code shown by the app").fill(code_at(app, secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = [
        c.strip()
        for c in page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    ]
    assert len(codes) == 10
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    log_out(page)

    clock.advance(seconds=30)  # the enrolment's code cannot sign in again: a new step
    sign_in(page, base)
    second_step(page, code_at(app, secret))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text("Recovery codes left: 10 of 10.")).to_be_visible()
    log_out(page)

    sign_in(page, base)
    second_step(page, code_at(app, secret))  # the same code again: refused
    expect(page.get_by_text("That code is not valid, or it was already used.")).to_be_visible()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    log_out(page)

    sign_in(page, base)
    second_step(page, codes[0])  # a used recovery code
    expect(page.get_by_text("That code is not valid, or it was already used.")).to_be_visible()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(codes[1])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text("Recovery codes left: 8 of 10.")).to_be_visible()


class TestLockout:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"ADMIN_2FA": "optional", "TRUSTED_PROXIES": 1, "LOGIN_LOCK_AFTER": 5}

    def test_guesses_from_many_addresses_lock_the_account(
        self, site: tuple[Flask, str, FakeClock], page: Page
    ) -> None:
        app, base, clock = site
        make_editor(app)
        for i in range(5):  # each from another address, as the trusted proxy reports it
            page.set_extra_http_headers({"X-Forwarded-For": f"198.51.100.{i + 1}"})
            sign_in(page, base, password=f"guess number {i}")
            expect(page.get_by_text(NO_MATCH)).to_be_visible()
            clock.advance(minutes=2)  # past every back-off
        page.set_extra_http_headers({"X-Forwarded-For": "203.0.113.7"})
        sign_in(page, base)  # the right password, from a fresh address: still locked
        expect(page.get_by_text(TOO_MANY)).to_be_visible()
        page.set_extra_http_headers({"X-Forwarded-For": "203.0.113.8"})
        sign_in(page, base, password="and one more guess")
        expect(page.get_by_text(TOO_MANY)).to_be_visible()
        page.goto(f"{base}/admin/")
        expect(page.get_by_role("heading", name="Editor login")).to_be_visible()

        clock.advance(minutes=14)  # the lock (15 minutes from the 5th failure) is over
        sign_in(page, base)
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        panel = page.locator(
            "section", has=page.get_by_role("heading", name="Recent sign-in failures")
        )
        expect(panel.get_by_role("row")).to_have_count(7)  # header, 5 failures and the lock
        expect(panel.get_by_text("locked")).to_be_visible()

    def test_strangers_locking_the_account_do_not_lock_out_the_editors_own_browser(
        self, site: tuple[Flask, str, FakeClock], browser: Browser, page: Page
    ) -> None:
        app, base, clock = site
        make_editor(app)
        editor_context = browser.new_context()
        attacker_context = browser.new_context()
        fresh_context = browser.new_context()
        try:
            own = editor_context.new_page()
            own.set_extra_http_headers({"X-Forwarded-For": "192.0.2.10"})
            sign_in(own, base)  # the editor's browser, signed in before the attack
            expect(own.get_by_role("heading", name="Dashboard")).to_be_visible()
            log_out(own)

            attacker = attacker_context.new_page()
            for i in range(5):  # a botnet: each guess from another address
                attacker.set_extra_http_headers({"X-Forwarded-For": f"198.51.100.{i + 1}"})
                sign_in(attacker, base, password=f"guess number {i}")
                expect(attacker.get_by_text(NO_MATCH)).to_be_visible()
                clock.advance(minutes=2)
            sign_in(attacker, base)  # even the right password: locked
            expect(attacker.get_by_text(TOO_MANY)).to_be_visible()

            fresh = fresh_context.new_page()  # the editor on a new browser, same address
            fresh.set_extra_http_headers({"X-Forwarded-For": "192.0.2.10"})
            sign_in(fresh, base)
            expect(fresh.get_by_text(TOO_MANY)).to_be_visible()

            sign_in(own, base)  # the browser that signed in before still gets in
            expect(own.get_by_role("heading", name="Dashboard")).to_be_visible()
        finally:
            for context in (editor_context, attacker_context, fresh_context):
                context.close()


class TestSessions:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"ADMIN_2FA": "optional"}

    def test_log_out_everywhere_throws_the_other_browser_out(
        self, site: tuple[Flask, str, FakeClock], browser: Browser, page: Page
    ) -> None:
        app, base, _ = site
        make_editor(app)
        sign_in(page, base)
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        other = browser.new_context()
        try:
            second = other.new_page()
            sign_in(second, base)
            expect(second.get_by_role("heading", name="Dashboard")).to_be_visible()
            second.get_by_role("link", name="Account").click()
            expect(second.get_by_text("You are signed in on 2 browser(s).")).to_be_visible()
            second.get_by_role("button", name="Log out everywhere").click()
            expect(second.get_by_text("Logged out everywhere: 2 session(s) ended.")).to_be_visible()
        finally:
            other.close()
        page.get_by_role("link", name="Subscribers").click()
        expect(page.get_by_text("Your session has ended. Log in again.")).to_be_visible()
        expect(page.get_by_role("heading", name="Editor login")).to_be_visible()

    def test_enrol_from_the_account_page_and_confirm_before_an_export(
        self, site: tuple[Flask, str, FakeClock], page: Page
    ) -> None:
        app, base, clock = site
        make_editor(app)
        sign_in(page, base)
        page.get_by_role("link", name="Account").click()
        page.get_by_role("link", name="Set up two-factor authentication").click()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Code shown by the app").fill(code_at(app, secret))
        page.get_by_role("button", name="Turn on two-factor authentication").click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        page.get_by_role("link", name="I have saved them, continue").click()
        page.get_by_role("button", name="New recovery codes").click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        page.get_by_role("link", name="I have saved them, continue").click()

        clock.advance(minutes=6)  # the sign-in is no longer recent
        page.get_by_role("link", name="Subscribers").click()
        page.get_by_role("link", name="Export CSV").click()
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        page.get_by_label("Password").fill(PASSWORD)
        clock.advance(seconds=30)
        page.get_by_label("Code from your authenticator app, or a recovery code").fill(
            code_at(app, secret)
        )
        with page.expect_download() as download:
            page.get_by_role("button", name="Confirm").click()
        assert download.value.suggested_filename.startswith("subscribers-all-")
