"""A real headless Chromium: the editor's review mail arrives (DKIM-signed) at the SMTP server,
its link opens the week's digest after login, and the editor presses Approve or Hold; a
digest is scheduled at a list-local time, unscheduled and cancelled from its page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mailer.digests import lifecycle
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList
from mailer.tasks import send_review_mail
from tests.conftest import SmtpServer, queued_tasks
from tests.integration.test_admin_lists_browser import PASSWORD, chromium, desk, tab
from tests.test_admin import make_articles
from tests.test_dkim import DnsFunc
from tests.test_mail_dkim import dnsfunc, verified
from tests.test_sending import add_subscribers, make_digest

pytestmark = pytest.mark.browser
__all__ = ["chromium", "desk", "dnsfunc", "tab"]  # fixtures


def weekly_in_twelve_hours(app: Flask, automatic: bool) -> datetime:
    """The weekly list's slot about 12 hours from now (UTC), so the scheduler drafts today."""
    slot = (datetime.now(UTC) + timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_weekday, weekly.schedule_hour = slot.weekday(), slot.hour
        weekly.schedule_timezone, weekly.send_automatically = "UTC", automatic
        db.session.commit()
    add_subscribers(app, 2)
    make_articles(app, 3)
    return slot


def review_link(app: Flask, desk: str, smtp_server: SmtpServer, dnsfunc: DnsFunc) -> str:
    """Run the scheduler, then the queued review mails as the worker does; the mailed link."""
    app.config["BASE_URL"] = desk
    smtp_server.clear()
    with app.app_context():
        lifecycle.start_due()
        mails = [args for name, args in queued_tasks(app, "mail") if name.endswith("review_mail")]
        assert len(mails) == 1  # one editor
        send_review_mail(*mails[0])
    (received,) = smtp_server.wait_for(1)
    verified(received, dnsfunc)
    assert received.message["To"] == "editor@example.org"
    body = received.message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(desk)}/admin/digests/\d+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def log_in(tab: Page) -> None:
    tab.get_by_label("Email address").fill("editor@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()


def the_digest(app: Flask) -> Digest:
    with app.app_context():
        digest = db.session.scalars(select(Digest)).one()
        db.session.expunge(digest)
        return digest


def test_the_review_link_opens_the_digest_and_the_editor_approves(
    app: Flask, desk: str, tab: Page, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    slot = weekly_in_twelve_hours(app, automatic=False)
    link = review_link(app, desk, smtp_server, dnsfunc)
    tab.goto(link)
    expect(tab.get_by_role("heading", name="Editor login")).to_be_visible(timeout=20_000)
    log_in(tab)
    expect(tab.get_by_text("Waits for an editor:")).to_be_visible(timeout=20_000)
    assert tab.url.rstrip("?") == link
    assert the_digest(app).status == DigestStatus.draft
    tab.get_by_role("button", name="Approve").click()
    expect(tab.get_by_text("Approved: it goes out at")).to_be_visible(timeout=20_000)
    approved = the_digest(app)
    assert approved.status == DigestStatus.scheduled and approved.scheduled_at == slot
    expect(tab.get_by_role("button", name="Approve")).to_have_count(0)


def test_the_review_link_opens_the_digest_and_the_editor_holds_it(
    app: Flask, desk: str, tab: Page, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    slot = weekly_in_twelve_hours(app, automatic=True)
    link = review_link(app, desk, smtp_server, dnsfunc)
    assert the_digest(app).scheduled_at == slot
    tab.goto(link)
    log_in(tab)
    expect(tab.get_by_text("Sent automatically:")).to_be_visible(timeout=20_000)
    tab.get_by_role("button", name="Hold").click()
    expect(tab.get_by_text("Held: it does not go out until an editor approves it.")).to_be_visible(
        timeout=20_000
    )
    expect(tab.get_by_text("Held by an editor:")).to_be_visible()
    held = the_digest(app)
    assert held.status == DigestStatus.draft and held.scheduled_at is None


def test_an_editor_schedules_at_list_time_unschedules_and_cancels(
    app: Flask, desk: str, tab: Page
) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_timezone = "Europe/Berlin"
        db.session.commit()
    digest_id = make_digest(app)
    year = datetime.now(UTC).year + 1
    tab.goto(f"{desk}/admin/digests/{digest_id}")
    log_in(tab)
    field = tab.get_by_label(re.compile(r"or send at, Europe/Berlin, UTC\+0[12]:00 time"))
    field.fill(f"{year}-07-02T09:00")
    tab.get_by_role("button", name="Schedule").click()
    expect(tab.get_by_text(f"{year}-07-02 07:00 UTC").first).to_be_visible(timeout=20_000)
    assert the_digest(app).scheduled_at == datetime(year, 7, 2, 7, tzinfo=UTC)

    tab.get_by_role("button", name="Unschedule").click()
    expect(tab.get_by_text("Unscheduled: the digest is a draft again.")).to_be_visible(
        timeout=20_000
    )
    assert the_digest(app).status == DigestStatus.draft

    tab.get_by_label(re.compile(r"or send at, Europe/Berlin")).fill(f"{year}-01-08T09:00")
    tab.get_by_role("button", name="Schedule").click()
    expect(tab.get_by_text(f"{year}-01-08 08:00 UTC").first).to_be_visible(timeout=20_000)
    tab.get_by_role("button", name="Cancel digest").click()
    expect(tab.get_by_role("status").filter(has_text="Cancelled.")).to_be_visible(timeout=20_000)
    assert the_digest(app).status == DigestStatus.cancelled
