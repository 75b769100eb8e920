"""What a feed says about an entry's versions in other languages, and FEEDS' languages.

Atom's `<link rel="alternate" hreflang>` names the other versions of an entry; feeds that
give every version one guid (or one dc:identifier) name them by that identifier.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from mailer.articles.fetch import is_url
from mailer.extensions import db
from mailer.models import Article


def configured_feeds(entries: list[str]) -> list[tuple[str, str | None]]:
    """FEEDS as (source, language): an entry is a URL, or "<language>=<URL>" (fr=https://...)."""
    feeds: list[tuple[str, str | None]] = []
    for entry in entries:
        prefix, equals, rest = entry.partition("=")
        if equals and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})?", prefix):
            feeds.append((rest.strip(), primary_language(prefix)))
        else:
            feeds.append((entry, None))
    return feeds


def primary_language(value: str | None) -> str | None:
    """The primary subtag ("fr" for "fr-FR"): the languages subscribers choose from."""
    primary = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def alternates(entry: Any) -> list[tuple[str, str]]:
    """(language, href) of the entry's rel="alternate" links that carry an hreflang."""
    found = []
    for link in entry.get("links", []):
        code = primary_language(link.get("hreflang"))
        href = str(link.get("href") or "").strip()
        if link.get("rel", "alternate") == "alternate" and code and is_url(href):
            found.append((code, href))
    return found


def own_link(entry: Any, language: str) -> str:
    """The entry's link in its own language: feedparser's `link` is the last alternate."""
    own = [
        str(link.get("href") or "").strip()
        for link in entry.get("links", [])
        if link.get("rel", "alternate") == "alternate"
        and primary_language(link.get("hreflang")) in (None, language)
    ]
    return next((h for h in own if h), str(entry.get("link") or "").strip())


def translation_guid(guid: str, link: str, language: str) -> tuple[str, str | None]:
    """The guid to store, and a story key when the feed gives each version one guid.

    A guid an article in another language with another link has already is the story's
    identifier, not this entry's: the entry is stored as "<guid>#<language>".
    """
    other = db.session.scalar(select(Article).where(Article.guid == guid))
    if other is None or other.language == language or other.link == link:
        return guid, None
    return f"{guid}#{language}"[:500], guid
