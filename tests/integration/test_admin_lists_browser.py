"""A real headless Chromium: an editor logs in, creates a list, edits it, deletes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.lists import service
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def desk(app: Flask) -> Iterator[str]:
    """The unit-test app (no worker needed: list pages enqueue nothing) over real HTTP."""
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    with serving(app, set_base_url=False) as base:
        yield base


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    yield context.new_page()
    context.close()


def stored(app: Flask, slug: str) -> MailingList | None:
    with app.app_context():
        found = service.find(slug)
        if found is not None:
            db.session.expunge(found)
        return found


def subscribe_reader(app: Flask, slug: str) -> None:
    with app.app_context():
        reader = Subscriber(email="reader@example.org", address_hash=address_hash("r@x.org"))
        reader.subscriptions.append(
            Subscription(mailing_list=service.find(slug), status=SubscriptionStatus.confirmed)
        )
        db.session.add(reader)
        db.session.commit()


def test_an_editor_creates_edits_and_deletes_a_list(app: Flask, desk: str, tab: Page) -> None:
    tab.goto(f"{desk}/admin/lists")
    tab.get_by_label("Email address").fill("editor@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Lists")).to_be_visible(timeout=20_000)

    # Create
    tab.get_by_role("link", name="New list").click()
    tab.get_by_label("Name", exact=True).fill("Climate desk")
    tab.get_by_label("Slug", exact=True).fill("climate")
    tab.get_by_label("Description").fill("Weekly climate reporting.")
    tab.get_by_label("Default language").select_option("fr")
    tab.get_by_label("From name (optional)").fill("Le desk climat")
    tab.get_by_label("Reply-To address (optional)").fill("desk@example.org")
    tab.get_by_label("Weekly digest on").select_option("Wednesday")
    tab.get_by_label("at hour (0–23)").fill("7")
    tab.get_by_label("Time zone").fill("Europe/Paris")
    tab.get_by_role("button", name="Create list").click()
    expect(tab.get_by_text("List “Climate desk” saved.")).to_be_visible(timeout=20_000)
    row = tab.get_by_role("row").filter(has_text="climate")
    expect(row).to_contain_text("Wednesday 07:00 Europe/Paris, waits for an editor")
    created = stored(app, "climate")
    assert created is not None and created.reply_to == "desk@example.org"

    # Edit: a new slug is refused until the editor confirms the article pages' forms
    tab.get_by_role("link", name="Climate desk").click()
    tab.get_by_label("Name", exact=True).fill("Climate & energy desk")
    tab.get_by_label("Slug", exact=True).fill("climate-energy")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("breaks every sign-up form")).to_be_visible(timeout=20_000)
    assert stored(app, "climate-energy") is None
    tab.get_by_label("I have updated the sign-up forms on article pages").check()
    tab.get_by_label("The weekly digest").select_option("auto")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("List “Climate & energy desk” saved.")).to_be_visible(timeout=20_000)
    edited = stored(app, "climate-energy")
    assert edited is not None and edited.send_automatically

    # Delete, through the confirmation page with its counts
    subscribe_reader(app, "climate-energy")
    tab.get_by_role("button", name="Delete this list…").click()
    expect(tab.get_by_role("heading", name="Delete “Climate & energy desk”?")).to_be_visible(
        timeout=20_000
    )
    expect(tab.locator("#deletion-summary")).to_contain_text(
        "1 confirmed subscribers and 0 pending"
    )
    assert stored(app, "climate-energy") is not None
    tab.get_by_role("button", name="Delete the list “Climate & energy desk”").click()
    expect(tab.get_by_text("List “Climate & energy desk” deleted.")).to_be_visible(timeout=20_000)
    expect(tab.get_by_role("row").filter(has_text="climate")).to_have_count(0)
    with app.app_context():
        assert (
            db.session.scalar(select(MailingList).where(MailingList.slug.like("climate%"))) is None
        )
        assert db.session.scalar(select(Subscriber)) is not None  # the reader stays


def test_an_hour_without_a_day_is_refused_and_no_automatic_digest_clears_both(
    app: Flask, desk: str, tab: Page
) -> None:
    """Before, an hour typed under "No automatic digest" was dropped without a word."""
    tab.goto(f"{desk}/admin/lists/new")
    tab.get_by_label("Email address").fill("editor@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.get_by_label("Name", exact=True).fill("Climate desk")
    tab.get_by_label("Slug", exact=True).fill("climate")
    tab.get_by_label("at hour (0–23)").fill("5")  # the day left at "No automatic digest"
    tab.get_by_role("button", name="Create list").click()
    expect(tab.get_by_text("Choose the day of the weekly digest too")).to_be_visible(timeout=20_000)
    assert stored(app, "climate") is None
    tab.get_by_label("Weekly digest on").select_option("Friday")
    tab.get_by_role("button", name="Create list").click()
    expect(tab.get_by_role("row").filter(has_text="climate")).to_contain_text(
        "Friday 05:00 UTC", timeout=20_000
    )

    # Turning the schedule off: the hour the page still shows goes with it.
    tab.get_by_role("link", name="Climate desk").click()
    expect(tab.get_by_label("at hour (0–23)")).to_have_value("5")
    tab.get_by_label("Weekly digest on").select_option("No automatic digest")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("List “Climate desk” saved.")).to_be_visible(timeout=20_000)
    off = stored(app, "climate")
    assert off is not None and (off.schedule_weekday, off.schedule_hour) == (None, None)
