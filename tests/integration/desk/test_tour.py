"""The editor's desk in a real Chromium: a list, two feed imports, a digest composed,
previewed, test-sent (read at the SMTP server, signed), scheduled at the list's local time.

Sending, pausing and cancelling are test_sending.py; every admin page, test_crawl.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dkim
import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Article, Digest, DigestStatus, MailingList
from tests.conftest import SmtpServer
from tests.integration.desk.conftest import WAIT, Dkim, FeedServer, log_in

pytestmark = pytest.mark.browser

ZONE = "America/New_York"  # not UTC: the digest's time is read in the list's zone


def rss(titles: list[str]) -> bytes:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{title}</title><link>https://news.example.org/rss-{i}</link>"
        f"<guid>https://news.example.org/rss-{i}</guid>"
        f"<description>What happened: {title.lower()}.</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i + 1))}</pubDate></item>"
        for i, title in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Newsroom</title><link>https://news.example.org/</link>{items}</channel></rss>"
    ).encode()


def atom(titles: list[str]) -> bytes:
    now = datetime.now(UTC)
    entries = "".join(
        f"<entry><title>{title}</title><id>https://news.example.org/atom-{i}</id>"
        f'<link href="https://news.example.org/atom-{i}"/>'
        f"<updated>{(now - timedelta(hours=i + 10)).isoformat()}</updated>"
        f"<summary>Filed: {title.lower()}.</summary></entry>"
        for i, title in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Desk</title><id>urn:desk</id><updated>{now.isoformat()}</updated>{entries}</feed>"
    ).encode()


FROM_URL = ["Court frees reporter", "Radio station back on air", "New press law tabled"]
FROM_FILE = ["Editors meet in Nairobi", "Photographer's case adjourned"]


def create_list(tab: Page) -> None:
    tab.get_by_role("link", name="Lists", exact=True).click()
    tab.get_by_role("link", name="New list").click()
    tab.get_by_label("Name", exact=True).fill("Climate desk")
    tab.get_by_label("Slug", exact=True).fill("climate")
    tab.get_by_label("Description").fill("Weekly climate reporting.")
    tab.get_by_label("Time zone").fill(ZONE)
    tab.get_by_role("button", name="Create list").click()
    expect(tab.get_by_text("List “Climate desk” saved.")).to_be_visible(timeout=WAIT)


def import_feeds(tab: Page, feed: FeedServer, tmp_path: Path) -> None:
    tab.get_by_role("link", name="Articles", exact=True).click()
    tab.get_by_label("Feed URL").fill(feed.url)
    tab.get_by_role("button", name="Import").click()
    expect(tab.get_by_text("Feed imported: 3 added, 0 updated, 0 skipped.")).to_be_visible(
        timeout=WAIT
    )
    assert feed.requests == 1
    upload = tmp_path / "desk.atom"
    upload.write_bytes(atom(FROM_FILE))
    tab.get_by_label("or a feed file").set_input_files(str(upload))
    tab.get_by_role("button", name="Import").click()
    expect(tab.get_by_text("Feed imported: 2 added, 0 updated, 0 skipped.")).to_be_visible(
        timeout=WAIT
    )
    for title in FROM_URL + FROM_FILE:
        expect(tab.get_by_role("link", name=title)).to_be_visible()


def compose(tab: Page) -> list[str]:
    """A new digest of the five articles; one moved down, one removed, an intro. The order."""
    tab.get_by_role("link", name="Digests", exact=True).click()
    tab.get_by_label("List").select_option(label="Climate desk")
    tab.get_by_role("button", name="New digest").click()
    titles = tab.locator("ol.items .title")
    expect(titles).to_have_text(FROM_URL + FROM_FILE, timeout=WAIT)  # newest first
    tab.get_by_role("button", name=f"Move “{FROM_URL[0]}” down").click()
    order = [FROM_URL[1], FROM_URL[0], FROM_URL[2], *FROM_FILE]
    expect(titles).to_have_text(order, timeout=WAIT)
    tab.get_by_role("button", name=f"Remove “{FROM_URL[2]}”").click()
    order.remove(FROM_URL[2])
    expect(titles).to_have_text(order, timeout=WAIT)
    tab.get_by_label("Subject", exact=True).fill("Climate desk: the week")
    tab.get_by_label("Introduction", exact=True).fill("Hello from the climate desk.")
    tab.get_by_role("button", name="Save digest").click()
    expect(tab.get_by_text("Digest saved.")).to_be_visible(timeout=WAIT)
    expect(titles).to_have_text(order)
    return order


def in_order(text: str, titles: list[str]) -> bool:
    places = [text.find(t) for t in titles]
    return -1 not in places and places == sorted(places)


def test_an_editor_composes_previews_tests_and_schedules_a_digest(
    desk_app: Flask,
    desk: str,
    tab: Page,
    smtp_server: SmtpServer,
    dkim_key: Dkim,
    feed_server: Callable[[bytes], FeedServer],
    tmp_path: Path,
) -> None:
    log_in(tab, desk)
    create_list(tab)
    import_feeds(tab, feed_server(rss(FROM_URL)), tmp_path)
    with desk_app.app_context():
        assert db.session.scalar(select(db.func.count(Article.id))) == 5
    order = compose(tab)
    digest_page = tab.url
    with desk_app.app_context():
        digest = db.session.scalars(select(Digest)).one()
        assert [a.title for a in digest.articles] == order
        assert digest.intro == "Hello from the climate desk."

    # Preview: the HTML (in its sandboxed frame) and the text, as a reader gets them.
    tab.get_by_role("link", name="Preview").click()
    expect(tab.get_by_role("heading", name="Preview")).to_be_visible(timeout=WAIT)
    frame = tab.frame_locator("iframe.preview")
    expect(
        frame.get_by_role("paragraph").filter(has_text="Hello from the climate desk.")
    ).to_be_visible(timeout=WAIT)
    html = frame.locator("body").inner_text()
    assert in_order(html, order) and FROM_URL[2] not in html
    text = tab.locator("pre.mailtext").inner_text()
    assert in_order(text, order) and FROM_URL[2] not in text
    assert "Hello from the climate desk." in text

    # A test send: the real message, signed, for a sample reader, marked as a test.
    tab.get_by_role("link", name="← Back to the digest").click()
    tab.get_by_label("Send a test to").fill("checker@example.org")
    tab.get_by_role("button", name="Send test").click()
    expect(tab.get_by_text("Test sent")).to_be_visible(timeout=WAIT)
    (received,) = smtp_server.wait_for(1, timeout=30)
    assert received.rcpt_tos == ["checker@example.org"]
    message = received.message
    assert message["Subject"] == "[Test] Climate desk: the week"
    assert received.raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(received.raw, dnsfunc=dkim_key.dnsfunc)
    unsubscribe = str(message["List-Unsubscribe"])
    assert "<http://localhost/unsubscribe/" in unsubscribe and "<mailto:" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(("plain",))
    assert body is not None and in_order(body.get_content(), order)

    # Scheduled at 09:30 in the list's zone, three days from now: stored in UTC.
    assert tab.url == digest_page
    zone = ZoneInfo(ZONE)
    day = datetime.now(zone).date() + timedelta(days=3)
    local = datetime.combine(day, time(9, 30), tzinfo=zone)
    label = re.compile(rf"or send at, {re.escape(ZONE)}, UTC[+-]\d\d:\d\d time")
    expect(tab.get_by_text(label)).to_be_visible()
    tab.get_by_label(label).fill(f"{day.isoformat()}T09:30")
    tab.get_by_role("button", name="Schedule").click()
    utc = local.astimezone(UTC)
    expect(tab.get_by_role("status")).to_have_text(
        re.compile(
            rf"Scheduled for {local:%a %-d %b %Y}, 09:30 \({re.escape(ZONE)}, UTC[+-]\d\d:00\),"
            rf" {utc:%Y-%m-%d %H:%M} UTC\."
        ),
        timeout=WAIT,
    )
    expect(tab.locator(".status").first).to_have_text("scheduled")
    with desk_app.app_context():
        digest = db.session.scalars(select(Digest)).one()
        assert digest.status == DigestStatus.scheduled
        assert digest.scheduled_at == local.astimezone(UTC)
        climate = db.session.scalar(select(MailingList).where(MailingList.slug == "climate"))
        assert climate is not None and climate.schedule_timezone == ZONE

    tab.get_by_role("button", name="Unschedule").click()
    expect(tab.get_by_text("Unscheduled: the digest is a draft again.")).to_be_visible(timeout=WAIT)
    expect(tab.locator(".status").first).to_have_text("draft")
    with desk_app.app_context():
        digest = db.session.scalars(select(Digest)).one()
        assert (digest.status, digest.scheduled_at) == (DigestStatus.draft, None)
    assert len(smtp_server.received) == 1  # nothing but the test went out
