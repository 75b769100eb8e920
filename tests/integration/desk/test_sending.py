"""Sending from the desk in a real Chromium, through the real worker to the SMTP server:
send now, the live progress, pause (sending stops within a second), resume (every reader
gets it exactly once), and cancel.

The SMTP server is slowed down (each message takes THROTTLE seconds to be accepted), so
that there is time to press Pause while most readers are still waiting; whether sending
stopped is judged by when the server accepted each message, against the moment the page
showed the digest paused (after the pause was committed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.smtp import Envelope
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mailer.digests import control
from mailer.extensions import db
from mailer.models import (
    Article,
    Digest,
    DigestStatus,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash
from tests.conftest import Received, SmtpServer
from tests.integration.desk.conftest import WAIT, log_in

pytestmark = pytest.mark.browser

READERS = 80
THROTTLE = 0.25  # seconds the SMTP server takes per message while the editor acts
# Sending stops within a second of the page showing the pause (or cancel): counted, not
# timed. The server takes THROTTLE s per message, one at a time, so a second's worth is four
# messages; a busy machine can delay the workers' next look, but not make them send faster.
A_SECONDS_WORTH = round(1 / THROTTLE)


class Throttle:
    """The SMTP server's reply hook: accepts every message after `delay` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0

    def __call__(self, envelope: Envelope) -> str | None:
        time.sleep(self.delay)  # in the server's event loop: one message at a time
        return None


@pytest.fixture
def throttle(smtp_server: SmtpServer) -> Iterator[Throttle]:
    hook = Throttle()
    smtp_server.handler.reply = hook
    yield hook
    smtp_server.handler.reply = None


def seed(app: Flask) -> list[str]:
    """READERS confirmed readers of the weekly list and two fresh articles; their addresses."""
    emails = [f"reader{i:03d}@example.org" for i in range(READERS)]
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        for email in emails:
            reader = Subscriber(email=email, address_hash=address_hash(email))
            reader.subscriptions.append(
                Subscription(mailing_list=weekly, status=SubscriptionStatus.confirmed)
            )
            db.session.add(reader)
        now = datetime.now(UTC)
        for i in range(2):
            db.session.add(
                Article(
                    guid=f"desk-{i}",
                    link=f"https://news.example.org/desk-{i}",
                    title=f"Desk story {i}",
                    summary="What happened.",
                    published_at=now - timedelta(hours=i + 1),
                )
            )
        db.session.commit()
    return emails


def new_digest(tab: Page) -> None:
    tab.get_by_role("link", name="Digests", exact=True).click()
    tab.get_by_label("List").select_option(label="Weekly updates")
    tab.get_by_role("button", name="New digest").click()
    expect(tab.get_by_role("button", name="Save digest")).to_be_visible(timeout=WAIT)


def send_now_and_watch(tab: Page) -> None:
    """Press Send now; wait for the controls of a sending digest and for the count to move."""
    tab.get_by_role("button", name=f"Send now to {READERS} subscribers…").click()
    # Asked once more, with what is about to happen; the answer sends it.
    expect(tab.get_by_role("heading", name="Send this digest now?")).to_be_visible(timeout=WAIT)
    expect(tab.get_by_text(f"{READERS} confirmed subscribers")).to_be_visible()
    tab.get_by_role("button", name=f"Send now to {READERS} subscribers", exact=True).click()
    # The page shows it starting, and reloads itself once a worker claimed it (a flash
    # message of the first load may be gone by then: not looked for).
    expect(tab.get_by_role("button", name="Pause")).to_be_visible(timeout=WAIT)
    sent = tab.locator('#progress [data-field="sent"]')
    before = int(sent.inner_text())
    tab.evaluate("window.stillTheSamePage = true")
    # Live: the count moves while the page stays (progress.js polls progress.json).
    expect(sent).not_to_have_text(str(before), timeout=WAIT)
    assert int(sent.inner_text()) > before
    assert tab.evaluate("window.stillTheSamePage === true")


def shown_status(tab: Page, status: str) -> float:
    """Wait for the page to show the digest in `status`; the time it was seen."""
    expect(tab.locator('#progress [data-field="status"]')).to_have_text(status, timeout=WAIT)
    return time.time()


def after_quiet(smtp_server: SmtpServer, since: float) -> tuple[list[Received], list[float]]:
    """Once the server has had no message for 1.5 s: all it got, and how long after `since`
    each message after it came (fails if sending does not stop within 30 s)."""
    deadline, seen, quiet_since = time.monotonic() + 30, -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.5:
        assert time.monotonic() < deadline, "sending did not stop"
        if (n := len(smtp_server.received)) != seen:
            seen, quiet_since = n, time.monotonic()
        time.sleep(0.1)
    received = smtp_server.received
    return received, [round(r.at - since, 3) for r in received if r.at > since]


def digest_id_of(tab: Page) -> int:
    return int(tab.url.rstrip("/").rsplit("/", 1)[1])


def test_an_editor_sends_pauses_resumes_and_cancels(
    desk_app: Flask, desk: str, tab: Page, smtp_server: SmtpServer, throttle: Throttle
) -> None:
    emails = seed(desk_app)
    log_in(tab, desk)
    new_digest(tab)
    digest_id = digest_id_of(tab)

    throttle.delay = THROTTLE
    send_now_and_watch(tab)

    tab.get_by_role("button", name="Pause").click()
    expect(tab.get_by_role("status")).to_have_text("Paused.", timeout=WAIT)
    paused_at = shown_status(tab, "paused")
    received, later = after_quiet(smtp_server, paused_at)
    assert len(later) <= A_SECONDS_WORTH, later
    with desk_app.app_context():
        progress = control.progress(digest_id)
        status = db.session.scalar(select(Digest.status).where(Digest.id == digest_id))
    assert status == DigestStatus.paused
    assert progress.sent == len(received) and progress.remaining == READERS - len(received) > 0
    expect(tab.locator('#progress [data-field="sent"]')).to_have_text(str(progress.sent))
    expect(tab.get_by_role("button", name="Resume")).to_be_visible()
    expect(tab.get_by_role("button", name="Pause")).to_have_count(0)

    throttle.delay = 0.0
    tab.get_by_role("button", name="Resume").click()
    expect(tab.get_by_role("status")).to_have_text("Resumed.", timeout=WAIT)
    shown_status(tab, "sent")  # live, from progress.json
    expect(tab.locator('#progress [data-field="remaining"]')).to_have_text("0")
    time.sleep(0.5)  # a second copy would have arrived by now
    got = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert sorted(got) == emails and set(got.values()) == {1}  # everyone, exactly once

    # Another digest, cancelled while it sends: the rest is skipped, nothing goes out after.
    smtp_server.clear()
    smtp_server.handler.reply = throttle  # clear() took it off
    # A story that came in since: the week's digest already carried the others, and no
    # article goes to a list twice in a week.
    with desk_app.app_context():
        db.session.add(
            Article(
                guid="desk-late",
                link="https://news.example.org/desk-late",
                title="Desk story late",
                summary="What happened next.",
                published_at=datetime.now(UTC),
            )
        )
        db.session.commit()
    new_digest(tab)
    expect(tab.locator("ol.items .title")).to_have_text(["Desk story late"], timeout=WAIT)
    cancelled_id = digest_id_of(tab)
    assert cancelled_id != digest_id
    throttle.delay = THROTTLE
    send_now_and_watch(tab)
    tab.get_by_role("button", name="Cancel sending").click()
    expect(tab.get_by_role("status")).to_have_text("Cancelled.", timeout=WAIT)
    cancelled_at = shown_status(tab, "cancelled")
    received, later = after_quiet(smtp_server, cancelled_at)
    assert len(later) <= A_SECONDS_WORTH, later
    with desk_app.app_context():
        progress = control.progress(cancelled_id)
        status = db.session.scalar(select(Digest.status).where(Digest.id == cancelled_id))
    assert status == DigestStatus.cancelled
    assert progress.sent == len(received) < READERS
    assert progress.remaining == 0 and progress.skipped == READERS - len(received)
    expect(tab.get_by_role("button", name="Resume")).to_have_count(0)
