"""Articles: save sanitized and deduplicated by link and guid; upsert feed entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.articles.sanitize import clip, html_to_text, sanitize_html
from mailer.extensions import db
from mailer.models import Article, utcnow

__all__ = [
    "SUMMARY_LIMIT",
    "DuplicateArticle",
    "Outcome",
    "save_article",
    "sanitize_html",
    "upsert_from_feed",
]

Outcome = Literal["added", "updated", "unchanged"]

SUMMARY_LIMIT = 1000  # characters of plain text; the digest shows summaries as text
FIELDS = (
    "title", "link", "guid", "summary", "body_html", "image_url", "image_alt", "image_credit",
    "author", "region", "tags", "language", "published_at",
)  # fmt: skip
# Optional plain-text fields: (label, maximum length), as the columns allow.
_OPTIONAL_TEXT = {
    "image_alt": ("The image description", 500),
    "image_credit": ("The image credit", 300),
    "author": ("The author", 200),
    "region": ("The region", 100),
}
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,5})?")


class DuplicateArticle(ValueError):
    """Another article already has this link or guid."""


def save_article(article: Article | None, **fields: object) -> Article:
    """Create (`article` None) or update an article; flushes, never commits.

    Fields left out stay as they are; `guid` None means the link; `published_at` None
    means now for a new article and unchanged for an existing one. Raises DuplicateArticle
    when another article has the link or guid, ValueError for other bad values.
    """
    return _store(article, _clean(fields, article))


def upsert_from_feed(*, keep_language: bool = False, **fields: object) -> Outcome:
    """Add a feed entry, or update the article with its guid, else with its link.

    :param keep_language: an article already stored keeps its language (the importer did
        not name one: the feed's own, or the default, must not undo an earlier choice).
    """
    link = _str(fields.get("link")).strip()
    guid = _str(fields.get("guid")).strip() or link
    article = db.session.scalar(select(Article).where(Article.guid == guid))
    if article is None and link:
        article = db.session.scalar(select(Article).where(Article.link == link))
    values = _clean(fields, article)
    if article is not None and keep_language:
        values.pop("language", None)
    if article is None:
        _store(None, values)
        return "added"
    if all(getattr(article, name) == value for name, value in values.items()):
        return "unchanged"
    _store(article, values)
    return "updated"


def _store(article: Article | None, values: dict[str, object]) -> Article:
    _check_unique(article, values)
    target = article if article is not None else Article()
    try:
        # A savepoint: a concurrent insert of the same link fails alone, not the caller's work.
        with db.session.begin_nested():
            for name, value in values.items():
                setattr(target, name, value)
            db.session.add(target)
    except IntegrityError as exc:
        raise DuplicateArticle("Another article has this link or GUID.") from exc
    return target


def _check_unique(article: Article | None, values: dict[str, object]) -> None:
    for column, name in ((Article.link, "link"), (Article.guid, "GUID")):
        value = values.get(column.key)
        if value is None:
            continue
        query = select(Article.id).where(column == value)
        if article is not None and article.id is not None:
            query = query.where(Article.id != article.id)
        if db.session.scalar(query.limit(1)) is not None:
            raise DuplicateArticle(f"Another article has this {name}.")


def _clean(fields: dict[str, object], article: Article | None) -> dict[str, object]:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown article fields: {', '.join(unknown)}")
    values: dict[str, object] = {}
    if "title" in fields or article is None:
        values["title"] = _title(fields.get("title"))
    if "link" in fields or article is None:
        values["link"] = _url(fields.get("link"), "The link", required=True)
    link = str(values.get("link") or (article.link if article is not None else ""))
    if "guid" in fields or article is None:
        values["guid"] = _limited(_str(fields.get("guid")).strip() or link, "The GUID", 500)
    if "summary" in fields:
        values["summary"] = html_to_text(_str(fields["summary"]), SUMMARY_LIMIT)
    if "body_html" in fields:
        values["body_html"] = sanitize_html(_str(fields["body_html"]), base_url=link)
    if "image_url" in fields:
        values["image_url"] = _url(fields["image_url"], "The image URL") or None
    for name, (label, limit) in _OPTIONAL_TEXT.items():
        if name in fields:
            values[name] = _limited(clip(_str(fields[name])), label, limit) or None
    if "tags" in fields:
        values["tags"] = _tags(fields["tags"])
    if "language" in fields:
        values["language"] = _language(fields["language"])
    published = fields.get("published_at")
    if published is not None or article is None:
        values["published_at"] = _published(published)
    return values


def _str(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _limited(value: str, label: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"{label} is longer than {limit} characters.")
    return value


def _title(value: object) -> str:
    title = clip(_str(value))
    if not title:
        raise ValueError("Give the article a title.")
    return _limited(title, "The title", 500)


def _url(value: object, label: str, *, required: bool = False) -> str:
    url = _str(value).strip()
    if not url:
        if required:
            raise ValueError(f"{label} is missing.")
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{label} must be a full http(s) address.")
    return _limited(url, label, 2000)


def _tags(value: object) -> str:
    if value is None:
        items: list[object] = []
    elif isinstance(value, str):
        items = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise TypeError(f"tags: expected a string or a list, got {type(value).__name__}")
    tags: dict[str, str] = {}
    for tag in items:
        text = clip(_str(tag))
        if text:
            tags.setdefault(text.casefold(), text)
    return _limited(", ".join(tags.values()), "The tags", 500)


def _language(value: object) -> str:
    language = _str(value).strip().lower().replace("_", "-")
    if not _LANGUAGE.fullmatch(language):
        raise ValueError("The language must be a language code such as 'en' or 'pt-br'.")
    return language


def _published(value: object) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, datetime):
        raise TypeError(f"published_at: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("The publication time needs a time zone.")
    return value.astimezone(UTC)
