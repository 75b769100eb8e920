"""Every admin page linked from the admin opens in a real Chromium, with data in every state.

From the dashboard, every link (and frame, and polled data-url) under /admin is followed
recursively; any 5xx, a link that leads nowhere (4xx) or a script error fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urldefrag, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select, update

from mailer.admin.auth import create_editor
from mailer.digests import lifecycle, outbox, service
from mailer.extensions import db
from mailer.models import (
    Article,
    BounceEvent,
    BounceKind,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    ImportStatus,
    MailingList,
    Subscriber,
    SubscriberImport,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.privacy import address_hash
from tests.integration.desk.conftest import EDITOR, PASSWORD, log_in
from tests.live_server import serving

pytestmark = pytest.mark.browser

MAX_PAGES = 400  # a bound: the crawl stops by itself whatever the pages link to
LINKS = """() => [
  ...[...document.querySelectorAll("a[href]")].map(e => e.href),
  ...[...document.querySelectorAll("iframe[src]")].map(e => e.src),
  ...[...document.querySelectorAll("[data-url]")]
    .map(e => new URL(e.dataset.url, location.href).href),
]"""


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The unit-test app (no worker: nothing here is sent) over real HTTP."""
    with serving(app, set_base_url=False) as base:
        yield base


def readers(weekly: MailingList) -> list[Subscriber]:
    made = []
    statuses = [SubscriptionStatus.confirmed] * 6 + [
        SubscriptionStatus.pending,
        SubscriptionStatus.unsubscribed,
    ]
    for i, status in enumerate(statuses):
        email = f"reader{i}@example.org"
        reader = Subscriber(email=email, address_hash=address_hash(email), name=f"Reader {i}")
        reader.subscriptions.append(Subscription(mailing_list=weekly, status=status))
        db.session.add(reader)
        made.append(reader)
    db.session.add(
        Suppression(address_hash=address_hash("gone@example.org"), reason=SuppressionReason.manual)
    )
    return made


def digest_in(weekly: MailingList, articles: list[Article], status: str) -> int:
    digest = service.create_digest(weekly, articles, subject=f"A digest {status}")
    db.session.commit()
    if status == "scheduled":
        lifecycle.schedule(digest.id, utcnow() + timedelta(days=2))
    elif status == "starting":
        lifecycle._move(digest.id, DigestStatus.scheduled, utcnow(), "started")
    elif status != "draft":
        outbox.start(digest.id)
        db.session.commit()
        first = db.session.scalar(select(Delivery.id).where(Delivery.digest_id == digest.id))
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status=DeliveryStatus.sent, sent_at=utcnow(), attempts=1)
        )
        db.session.commit()
        if status == "paused":
            lifecycle.pause(digest.id)
        elif status == "cancelled":
            lifecycle.cancel(digest.id)
        elif status == "sent":
            db.session.execute(
                update(Delivery)
                .where(Delivery.digest_id == digest.id, Delivery.id != first)
                .values(status=DeliveryStatus.sent, sent_at=utcnow(), attempts=1)
            )
            db.session.execute(
                update(Digest)
                .where(Digest.id == digest.id)
                .values(status=DigestStatus.sent, sent_at=utcnow())
            )
            db.session.add(
                BounceEvent(
                    message_hash="a" * 64,
                    kind=BounceKind.hard,
                    attributed=True,
                    delivery_id=first,
                    digest_id=digest.id,
                    status="5.1.1",
                    diagnostic="550 5.1.1 user unknown",
                )
            )
            db.session.commit()
    return digest.id


def seed(app: Flask) -> dict[str, int]:
    """Lists, articles, subscribers, imports, bounces, and a digest in every state."""
    with app.app_context():
        create_editor(EDITOR, PASSWORD)
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        readers(weekly)
        now = datetime.now(UTC)
        articles = [
            Article(
                guid=f"crawl-{i}",
                link=f"https://news.example.org/crawl-{i}",
                title=f"Crawled story {i}",
                summary="Summary.",
                author="Amina Haddad",
                published_at=now - timedelta(days=i),
            )
            for i in range(30)  # two pages of articles
        ]
        db.session.add_all(articles)
        for status, data, extra in (
            (ImportStatus.queued, b"email\nnew@example.org\n", {}),
            (ImportStatus.done, None, {"imported": 3, "refused": 1, "refused_rows": [[3, "x"]]}),
            (ImportStatus.failed, None, {"error": "The file is not UTF-8 CSV."}),
        ):
            db.session.add(SubscriberImport(list_id=weekly.id, status=status, data=data, **extra))
        db.session.commit()
        states = ["draft", "scheduled", "starting", "sending", "paused", "cancelled", "sent"]
        return {s: digest_in(weekly, articles[:3], s) for s in states}


def crawl(tab: Page, base: str) -> dict[str, int]:
    """Status of every /admin URL reachable from the dashboard (at most MAX_PAGES)."""
    seen: dict[str, int] = {}
    todo = [f"{base}/admin/"]
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop()
        if url in seen:
            continue
        response = tab.request.get(url, max_redirects=0)  # the browser's cookies
        seen[url] = response.status
        kind = response.headers.get("content-type", "")
        if response.status >= 400 or not kind.startswith("text/html"):
            continue
        tab.goto(url)
        for link in tab.evaluate(LINKS):
            link = urldefrag(link)[0]
            parts = urlsplit(link)
            if f"{parts.scheme}://{parts.netloc}" == base and parts.path.startswith("/admin"):
                if link not in seen:
                    todo.append(link)
    return seen


def test_every_admin_page_opens(app: Flask, served: str, tab: Page) -> None:
    digests = seed(app)
    script_errors: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(f"{tab.url}: {error}"))
    log_in(tab, served)
    seen = crawl(tab, served)
    assert len(seen) < MAX_PAGES, "the crawl did not end"
    broken = {url: status for url, status in seen.items() if status >= 400}
    assert broken == {}
    assert script_errors == []  # the pages' scripts (progress, import progress) ran cleanly
    paths = {urlsplit(url).path for url in seen}
    for digest_id in digests.values():  # every state's page, its preview and its progress
        assert f"/admin/digests/{digest_id}" in paths
        assert f"/admin/digests/{digest_id}/preview" in paths
        assert f"/admin/digests/{digest_id}/preview.html" in paths
    assert f"/admin/digests/{digests['sending']}/progress.json" in paths
    with app.app_context():
        for model, prefix in (
            (MailingList, "/admin/lists/"),
            (Subscriber, "/admin/subscribers/"),
            (SubscriberImport, "/admin/subscribers/imports/"),
        ):
            for row_id in db.session.scalars(select(model.id)):
                assert f"{prefix}{row_id}" in paths, (prefix, row_id)
        for article_id in db.session.scalars(select(Article.id)):
            assert f"/admin/articles/{article_id}" in paths
    for path in ("/admin/bounces", "/admin/suppressions", "/admin/subscribers/export"):
        assert path in paths
