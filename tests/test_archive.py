"""The public archive: sent digests of public lists, no reader data, nothing that runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.models import DigestStatus
from tests.test_digest_render import (
    ISSUE_DAY,
    TITLES,
    Parsed,
    assert_inert,
    make_digest,
)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"NETWORK_NAME": "The Free Expression Network"}


def sent(app: Flask, slug: str, subject: str, days: int = 0, **kwargs: Any) -> int:
    return make_digest(
        app,
        slug=slug,
        subject=subject,
        status=DigestStatus.sent,
        sent_at=ISSUE_DAY + timedelta(days=days),
        **kwargs,
    )


def issue_document(page: str) -> str:
    frames = Parsed(page).all("iframe")
    assert len(frames) == 1
    frame = frames[0]
    assert frame["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"  # no allow-scripts
    return frame["srcdoc"]


def test_index_lists_sent_issues_of_public_lists_newest_first(
    app: Flask, client: FlaskClient
) -> None:
    sent(app, "weekly-old", "Older weekly issue", days=0)
    sent(app, "weekly-new", "Newer weekly issue", days=7, articles=False)
    sent(app, "alerts-1", "An alert", days=3, list_slug="alerts", articles=False)
    sent(app, "members-1", "Members only", days=8, list_slug="members", articles=False)
    make_digest(app, slug="weekly-draft", subject="A draft", articles=False)
    response = client.get("/archive")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    links = [(href, text) for href, text in Parsed(page).links if href.startswith("/archive/")]
    assert links == [
        ("/archive/weekly-new", "Newer weekly issue"),
        ("/archive/alerts-1", "An alert"),
        ("/archive/weekly-old", "Older weekly issue"),
    ]
    assert "Members only" not in page and "A draft" not in page


def test_issue_page_shows_the_digest_without_reader_data(app: Flask, client: FlaskClient) -> None:
    sent(app, "weekly-1", "Freed voices")
    response = client.get("/archive/weekly-1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    issue = issue_document(page)
    for i, title in enumerate(TITLES):
        assert (f"https://news.example.org/weekly-1/{i}", title) in Parsed(issue).links
    for markup in (page, issue):
        assert "/unsubscribe/" not in markup and "/preferences/" not in markup
        assert "%%" not in markup and "Hello" not in markup
    anchors = Parsed(issue).all("a")
    assert all(a["target"] == "_blank" for a in anchors)  # links leave the sandboxed frame


def test_issue_page_has_no_scripts_and_no_third_party_page_assets(
    app: Flask, client: FlaskClient
) -> None:
    sent(app, "weekly-1", "Freed voices")
    response = client.get("/archive/weekly-1")
    page = response.get_data(as_text=True)
    parsed = Parsed(page)
    assert parsed.all("script") == []
    hrefs = [link["href"] for link in parsed.all("link")]
    assert hrefs == ["/static/mailer.css", "/static/favicon.svg"]  # both from this site
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    # Article images load from their own origin only (here the news site), never anything else.
    assert "img-src 'self' data: https://news.example.org;" in csp


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("unknown", "/archive/no-such-issue"),
        ("draft", "/archive/weekly-draft"),
        ("sending", "/archive/weekly-sending"),
        ("private", "/archive/members-1"),
    ],
)
def test_issue_page_404(app: Flask, client: FlaskClient, kind: str, url: str) -> None:
    make_digest(app, slug="weekly-draft", articles=False)
    make_digest(app, slug="weekly-sending", status=DigestStatus.sending, articles=False)
    sent(app, "members-1", "Members only", list_slug="members", articles=False)
    response = client.get(url)
    assert response.status_code == 404, kind
    assert "Members only" not in response.get_data(as_text=True)


def test_index_pages_by_twenty_and_404_past_the_end(app: Flask, client: FlaskClient) -> None:
    for i in range(21):
        sent(app, f"weekly-{i}", f"Issue {i}", days=i, articles=False)

    def issues(url: str) -> list[str]:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        return [text for href, text in Parsed(page).links if href.startswith("/archive/")]

    first = issues("/archive")
    assert len(first) == 20 and first[0] == "Issue 20" and first[-1] == "Issue 1"
    assert issues("/archive?page=2") == ["Issue 0"]
    for past in ("/archive?page=3", "/archive?page=0", "/archive?page=-1", "/archive?page=x"):
        assert client.get(past).status_code == 404, past


def test_empty_archive_has_a_first_page_only(client: FlaskClient) -> None:
    assert client.get("/archive").status_code == 200
    assert client.get("/archive?page=2").status_code == 404


def test_hostile_article_is_inert_on_the_issue_page(app: Flask, client: FlaskClient) -> None:
    sent(app, "weekly-1", "Freed voices", hostile=True)
    page = client.get("/archive/weekly-1").get_data(as_text=True)
    assert_inert(page)
    issue = issue_document(page)
    assert_inert(issue)
    assert "alert('body')" not in issue
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in issue
    assert "&lt;img src=x onerror=alert(1)&gt;Hostile title" in issue
