"""A real headless Chromium: an editor sets a list's auto-pause limits, watches a digest pause
itself while its page is open, reads why, and resumes it."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList
from tests.integration.test_admin_lists_browser import chromium, desk, tab  # noqa: F401
from tests.test_autopause import EDITOR, report, send_range, sending_digest, sent_readers

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


def log_in(tab: Page, url: str, email: str) -> None:  # noqa: F811
    tab.goto(url)
    tab.get_by_label("Email address").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()


def test_an_editor_sets_a_lists_auto_pause_limits(app: Flask, desk: str, tab: Page) -> None:  # noqa: F811
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        list_id = weekly.id
    log_in(tab, f"{desk}/admin/lists/{list_id}", "editor@example.org")
    expect(tab.get_by_text("the site's defaults (5 %, 0.1 %, once 500")).to_be_visible(
        timeout=20_000
    )
    tab.get_by_label("Pause at hard bounces (% of messages sent)").fill("120")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("From 0 (never) to 100.")).to_be_visible(timeout=20_000)
    tab.get_by_label("Pause at hard bounces (% of messages sent)").fill("2.5")
    tab.get_by_label("Pause at complaints (% of messages sent)").fill("0")
    tab.get_by_label("Once this many messages are sent").fill("200")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("List “Weekly updates” saved.")).to_be_visible(timeout=20_000)
    with app.app_context():
        weekly = db.session.get(MailingList, list_id)
        assert weekly is not None
        assert (weekly.pause_bounce_rate, weekly.pause_complaint_rate) == (2.5, 0.0)
        assert weekly.pause_min_sent == 200
    # Emptied again: the site's defaults.
    tab.get_by_label("Pause at hard bounces (% of messages sent)").fill("")
    tab.get_by_role("button", name="Save list").click()
    expect(tab.get_by_text("List “Weekly updates” saved.")).to_be_visible(timeout=20_000)
    with app.app_context():
        weekly = db.session.get(MailingList, list_id)
        assert weekly is not None and weekly.pause_bounce_rate is None


def test_the_page_of_a_digest_that_paused_itself_says_why_and_it_can_be_resumed(
    app: Flask,
    desk: str,  # noqa: F811
    tab: Page,  # noqa: F811
) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    log_in(tab, f"{desk}/admin/digests/{digest_id}", EDITOR)
    expect(tab.get_by_role("button", name="Pause")).to_be_visible(timeout=20_000)
    expect(tab.locator("#pause-reason")).to_be_hidden()

    # Bounces come in while the page is open: its live progress shows the pause and why.
    for reader in sent_readers(app, digest_id)[:3]:
        report(app, reader)
    reason = tab.locator("#pause-reason")
    expect(reason).to_contain_text(
        "Paused automatically: 3 hard bounces among 12 messages sent (25 %)", timeout=30_000
    )
    expect(reason).to_contain_text("over this list's limit of 20 %")
    expect(tab.get_by_role("button", name="Resume")).to_be_visible(timeout=20_000)
    expect(tab.get_by_text("the bounces counted above do not pause it again")).to_be_visible()

    tab.get_by_role("button", name="Resume").click()
    expect(tab.get_by_text("Resumed.")).to_be_visible(timeout=20_000)
    expect(tab.locator("#pause-reason")).to_be_hidden()
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        assert (digest.status, digest.pause_reason) == (DigestStatus.sending, None)
        assert digest.rates_since is not None
