"""Feeds per language: FEEDS entries with a language, versions linked by hreflang or identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from mailer.articles import stories
from mailer.articles.feed_links import configured_feeds
from mailer.articles.feeds import import_feed
from mailer.extensions import db
from mailer.models import Article, Story
from mailer.tasks import poll_feeds
from tests.test_feeds import FEEDS, LOOPBACK_ALLOWED, feed_server  # noqa: F401  (fixture)


def _by_link() -> dict[str, Article]:
    return {a.link.rsplit("/", 1)[1]: a for a in db.session.scalars(select(Article))}


def test_feeds_setting_takes_an_optional_language_per_feed() -> None:
    assert configured_feeds(
        ["https://a.example/feed?x=1", "fr=https://b.example/fr.xml", "pt-BR=https://c/p"]
    ) == [
        ("https://a.example/feed?x=1", None),
        ("https://b.example/fr.xml", "fr"),
        ("https://c/p", "pt"),
    ]


def test_hreflang_alternates_link_the_versions_whichever_feed_comes_first(app: Flask) -> None:
    with app.app_context():
        import_feed(str(FEEDS / "stories_fr.xml"), language="fr")  # its English one: not yet
        import_feed(str(FEEDS / "stories_en.xml"))
        db.session.commit()
        found = _by_link()
        bridge, pont = found["bridge"], found["pont"]
        # feedparser's `link` is the last alternate: each keeps its own.
        assert (bridge.language, pont.language) == ("en", "fr")
        assert bridge.story_id is not None and bridge.story_id == pont.story_id
        assert pont.title == "Le pont sur la rivière rouvre"


def test_a_guid_shared_across_languages_links_instead_of_overwriting(app: Flask) -> None:
    with app.app_context():
        import_feed(str(FEEDS / "stories_en.xml"))
        report = import_feed(str(FEEDS / "stories_shared_guid_es.xml"), language="es")
        assert report.added == 1
        again = import_feed(str(FEEDS / "stories_shared_guid_es.xml"), language="es")
        assert again.unchanged == 1 and again.added == 0
        db.session.commit()
        found = _by_link()
        assert found["bridge"].title == "The river bridge reopens"  # not overwritten
        assert found["puente"].guid == "urn:demo:en:bridge#es"
        assert found["puente"].story_id == found["bridge"].story_id is not None


def test_a_shared_dc_identifier_links_and_the_configured_language_wins(app: Flask) -> None:
    with app.app_context():
        import_feed(str(FEEDS / "stories_dc_ru.xml"), language="ru")  # the feed says "en"
        import_feed(str(FEEDS / "stories_dc_tr.xml"), language="tr")
        db.session.commit()
        found = _by_link()
        assert (found["urozhai"].language, found["hasat"].language) == ("ru", "tr")
        assert found["urozhai"].story_id == found["hasat"].story_id is not None
        story = db.session.get(Story, found["hasat"].story_id)
        assert story is not None and story.key == "story-harvest"
        # Without a configured language an article already stored keeps its own: the
        # feed's "en" no longer undoes the language given before.
        import_feed(str(FEEDS / "stories_dc_ru.xml"))
        assert db.session.scalar(select(Article.language).where(Article.guid.like("%ru%"))) == "ru"


def test_a_feed_naming_a_second_version_in_one_language_is_not_linked(app: Flask) -> None:
    with app.app_context():
        import_feed(str(FEEDS / "stories_en.xml"))
        import_feed(str(FEEDS / "stories_fr.xml"), language="fr")
        found = _by_link()
        other = Article(
            guid="x", link="https://news.example.org/fr/autre", title="Autre", language="fr"
        )
        db.session.add(other)
        db.session.flush()
        stories.link_on_import(other, ["https://news.example.org/en/bridge"], None)
        assert other.story_id is None and found["pont"].story_id == found["bridge"].story_id


class TestPollFeedsWithLanguages:
    @pytest.fixture
    def config_overrides(self, feed_server: str) -> dict[str, Any]:  # noqa: F811
        return {
            **LOOPBACK_ALLOWED,
            "FEEDS": [
                f"{feed_server}/feeds/stories_en.xml",
                f"fr={feed_server}/feeds/stories_fr.xml",
                f"ru={feed_server}/feeds/stories_dc_ru.xml",
            ],
        }

    def test_polled_feeds_get_their_languages_and_links(self, app: Flask) -> None:
        poll_feeds()
        with app.app_context():
            found = _by_link()
            assert {k: a.language for k, a in found.items()} == {
                "bridge": "en",
                "pont": "fr",
                "urozhai": "ru",
            }
            assert found["bridge"].story_id == found["pont"].story_id is not None


def test_cli_import_feed_takes_a_language(app: Flask, runner: Any) -> None:
    result = runner.invoke(
        args=["import-feed", "--language", "ru", str(FEEDS / "stories_dc_ru.xml")]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(Article.language)) == "ru"


def test_an_overlong_shared_identifier_is_cut_not_fatal(app: Flask, tmp_path: Path) -> None:
    feed = (FEEDS / "stories_dc_tr.xml").read_text().replace("story-harvest", "x" * 800)
    (tmp_path / "long.xml").write_text(feed)
    with app.app_context():
        assert import_feed(str(tmp_path / "long.xml"), language="tr").added == 1
        db.session.commit()
        assert db.session.scalar(select(Story.key)) == "x" * 500


NO_LANGUAGE = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>News</title><link>https://news.example.org/</link>
<description>A feed that does not say its language.</description>
<item><title>One</title><link>https://news.example.org/1</link><guid>g1</guid>
<description>First</description><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>Two</title><link>https://news.example.org/2</link>
<description>Second</description><pubDate>Mon, 02 Nov 2026 11:00:00 GMT</pubDate></item>
</channel></rss>
"""


def _languages() -> list[str]:
    return list(db.session.scalars(select(Article.language).order_by(Article.id)))


def test_cli_import_feed_refuses_a_language_the_site_does_not_offer(
    app: Flask, runner: Any, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(NO_LANGUAGE)
    result = runner.invoke(args=["import-feed", str(feed), "--language", "zz"])
    assert result.exit_code == 1
    assert "--language: Choose one of the site's languages: ar, en, es, fa, fr, ru, tr." in (
        result.output
    )
    with app.app_context():
        assert _languages() == []  # before: two articles in "zz"
    regional = runner.invoke(args=["import-feed", str(feed), "--language", "FR-ca"])
    assert regional.exit_code == 0, regional.output
    with app.app_context():
        assert _languages() == ["fr", "fr"]


def test_cli_reimport_reports_unchanged_and_keeps_a_language_given_before(
    app: Flask, runner: Any, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(NO_LANGUAGE)
    first = runner.invoke(args=["import-feed", str(feed), "--language", "fr"])
    assert "added 2, updated 0, unchanged 0, skipped 0" in first.output, first.output
    again = runner.invoke(args=["import-feed", str(feed)])
    # Before: "updated 2", every article turned English (the default language).
    assert "added 0, updated 0, unchanged 2, skipped 0" in again.output, again.output
    with app.app_context():
        assert _languages() == ["fr", "fr"]
    # Only --language changes the language of articles already stored.
    changed = runner.invoke(args=["import-feed", str(feed), "--language", "es"])
    assert "added 0, updated 2, unchanged 0, skipped 0" in changed.output, changed.output
    with app.app_context():
        assert _languages() == ["es", "es"]


def test_cli_reimport_keeps_a_language_given_over_the_feeds_own(app: Flask, runner: Any) -> None:
    feed = str(FEEDS / "stories_dc_ru.xml")  # says <language>en</language>
    assert runner.invoke(args=["import-feed", feed, "--language", "ru"]).exit_code == 0
    again = runner.invoke(args=["import-feed", feed])
    assert "updated 0" in again.output, again.output
    with app.app_context():
        assert _languages() == ["ru"]
