"""An editor signed in from two (then three) Chromium contexts sees them as trusted browsers
on the Account page, forgets the lost one, then (after giving the password again, as the
sign-in is no longer recent) every other one; a forgotten browser is signed out, and is
locked out with the account when strangers lock it, and the editor's own is not.

The server and the clock are tests/integration/test_accounts_browser.py's; the requests
come through a trusted proxy, each guess from another address.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect

from tests.accounts_helpers import PASSWORD, FakeClock, make_editor
from tests.integration import test_accounts_browser as accounts
from tests.integration.test_accounts_browser import NO_MATCH, TOO_MANY, log_out, sign_in

pytestmark = pytest.mark.browser

# The same Chromium (one per module) and the same in-process server with its clock.
browser = accounts.browser
site = accounts.site


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"ADMIN_2FA": "optional", "TRUSTED_PROXIES": 1, "LOGIN_LOCK_AFTER": 5}


def from_address(page: Page, address: str) -> Page:
    page.set_extra_http_headers({"X-Forwarded-For": address})
    return page


def signs_in(page: Page, base: str) -> None:
    sign_in(page, base)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def trusted_browsers(page: Page) -> Locator:
    """The rows of the Account page's "Trusted browsers" table (after its header)."""
    page.get_by_role("link", name="Account").click()
    section = page.locator("section", has=page.get_by_role("heading", name="Trusted browsers"))
    return section.locator("tbody").get_by_role("row")


def strangers_lock_the_account(page: Page, base: str, clock: FakeClock) -> None:
    for i in range(5):
        from_address(page, f"198.51.100.{i + 1}")
        sign_in(page, base, password=f"guess number {i}")
        expect(page.get_by_text(NO_MATCH)).to_be_visible()
        clock.advance(minutes=2)


def test_an_editor_forgets_a_lost_laptop_then_every_other_browser(
    site: tuple[Flask, str, FakeClock],
    browser: Browser,
) -> None:
    app, base, clock = site
    make_editor(app)
    contexts = [browser.new_context() for _ in range(4)]
    try:
        laptop, desk, spare, stranger = (context.new_page() for context in contexts)
        signs_in(from_address(laptop, "192.0.2.10"), base)
        clock.advance(minutes=5)
        signs_in(from_address(desk, "192.0.2.20"), base)

        rows = trusted_browsers(desk)
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="Chrome on Linux (this browser)")).to_have_count(1)
        lost = rows.filter(has_not_text="(this browser)")
        expect(lost).to_contain_text("2026-11-30 12:00")  # first signed in, last used
        lost.get_by_role("button", name="Forget").click()
        expect(
            desk.get_by_text(
                "That browser is no longer trusted, and your other sessions have ended."
            )
        ).to_be_visible()
        expect(rows).to_have_count(1)
        laptop.reload()  # the forgotten laptop is signed out too
        expect(laptop.get_by_role("heading", name="Editor login")).to_be_visible()
        log_out(desk)

        strangers_lock_the_account(stranger, base, clock)
        sign_in(laptop, base)  # the right password, from the forgotten laptop: locked out
        expect(laptop.get_by_text(TOO_MANY)).to_be_visible()
        signs_in(desk, base)  # the browser still trusted gets in

        clock.advance(minutes=16)  # the lock is over
        signs_in(laptop, base)  # trusted anew
        signs_in(from_address(spare, "192.0.2.30"), base)
        rows = trusted_browsers(desk)
        expect(rows).to_have_count(3)
        # The desk signed in 16 minutes ago: forgetting asks for the password first.
        desk.get_by_role("button", name="Forget all other browsers").click()
        expect(desk.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        expect(rows).to_have_count(0)  # (not on this page)
        desk.get_by_label("Password").fill(PASSWORD)
        desk.get_by_role("button", name="Confirm").click()
        expect(rows).to_have_count(3)  # back on the Account page, nothing forgotten yet
        desk.get_by_role("button", name="Forget all other browsers").click()
        expect(
            desk.get_by_text("2 other browser(s) forgotten, and your other sessions have ended.")
        ).to_be_visible()
        laptop.reload()
        expect(laptop.get_by_role("heading", name="Editor login")).to_be_visible()
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("(this browser)")
        expect(desk.get_by_role("button", name="Forget all other browsers")).to_have_count(0)
        log_out(desk)

        strangers_lock_the_account(stranger, base, clock)
        for forgotten in (laptop, spare):
            sign_in(forgotten, base)
            expect(forgotten.get_by_text(TOO_MANY)).to_be_visible()
        signs_in(desk, base)
    finally:
        for context in contexts:
            context.close()
