"""FEEDS is checked at start: each entry a feed URL, or <language>=<URL> in a site language.

Before, `FEEDS="zz=https://…"` imported articles in a language no reader can choose (their
stories then reached nobody in their own language), and `french=https://…` was taken as a
file name and failed every 15 minutes in the worker's log only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SmtpServer, base_config, redis_db
from tests.test_config_site import refused, started


@pytest.fixture
def config(database_url: str, redis_base_url: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return base_config(database_url, redis_db(redis_base_url, 1), smtp_server.url)


FEED = "https://news.example.org/feed.xml"


@pytest.mark.parametrize(
    "entries",
    [
        [FEED],
        [f"fr={FEED}", f"fa-IR={FEED}", f"RU={FEED}"],
        ["https://news.example.org/feed?lang=es&page=1"],  # '=' in a query is not a language
        [],
    ],
)
def test_urls_with_or_without_a_site_language_start(
    config: dict[str, Any], entries: list[str]
) -> None:
    assert started(config, FEEDS=entries).config["FEEDS"] == entries


def test_a_language_the_site_does_not_offer_is_refused(config: dict[str, Any]) -> None:
    message = refused(config, "FEEDS", [FEED, "zz=https://news.example.org/zz.xml?key=s3cret"])
    assert "entry 2" in message and "'zz'" in message
    assert "en, " in message and "fa" in message  # the languages it could be
    assert "s3cret" not in message  # a feed URL may carry a token: never echoed


@pytest.mark.parametrize(
    "entry",
    [
        "french=https://news.example.org/fr.xml",
        "news.example.org/feed.xml",
        "ftp://news.example.org/feed.xml",
        "fr=news.example.org/fr.xml",
        "fr=",
        "https://[::1/feed.xml",
    ],
)
def test_an_entry_that_is_not_a_feed_url_is_refused(config: dict[str, Any], entry: str) -> None:
    message = refused(config, "FEEDS", [FEED, entry])
    assert "entry 2" in message and "fr=https://" in message  # the form it should take
