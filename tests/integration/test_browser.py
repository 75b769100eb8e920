"""A real headless Chromium signs up through the form (proof of work included) and confirms."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Subscription
from tests.conftest import SmtpServer

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine has no network: no calls home
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("google-chrome"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("no Chromium: run `make browser` (scripts/ensure-chromium.sh) first")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"SIGNUP_CHALLENGE": True, "SIGNUP_CHALLENGE_MAX_NUMBER": 20_000}


def statuses(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {
            s.mailing_list.slug: s.status.value for s in db.session.scalars(select(Subscription))
        }


def test_browser_signs_up_confirms_and_changes_preferences(
    live_app: Flask, live_server: str, smtp_server: SmtpServer, page: Page
) -> None:
    page.goto(f"{live_server}/subscribe")
    page.get_by_label("Email address").fill("browser.reader@example.org")
    page.get_by_label("Name (optional)").fill("Reader")
    expect(page.get_by_label("Weekly updates", exact=True)).to_be_checked()
    page.get_by_label("Language").select_option("fr")
    page.get_by_label("I agree to receive these emails").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible(timeout=20_000)

    (received,) = smtp_server.wait_for(1)
    body = received.message.get_body(("plain",))
    assert body is not None
    path = re.search(r"http://localhost(/confirm/\S+)", body.get_content())
    assert path
    page.goto(live_server + path.group(1))
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    assert statuses(live_app) == {"weekly": "pending"}
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert statuses(live_app) == {"weekly": "confirmed"}

    page.get_by_role("link", name="Manage your preferences").click()
    page.get_by_label("Press freedom alerts", exact=True).check()
    page.get_by_label("Weekly updates", exact=True).uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Your preferences are saved")).to_be_visible()
    assert statuses(live_app) == {"weekly": "unsubscribed", "alerts": "confirmed"}


def test_browser_sees_field_errors_by_label(live_app: Flask, live_server: str, page: Page) -> None:
    page.goto(f"{live_server}/subscribe")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Enter a valid email address")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Please agree to receive these emails.")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    assert statuses(live_app) == {}
