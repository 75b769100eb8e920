"""Import articles from an RSS 2.0 or Atom feed, by URL or file: every entry or none."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from html import escape
from typing import Any

from flask import current_app

from mailer.articles import stories
from mailer.articles.feed_links import alternates, own_link, primary_language, translation_guid
from mailer.articles.fetch import FeedError, is_url, read_source
from mailer.articles.sanitize import clip, html_to_text
from mailer.articles.service import upsert_from_feed
from mailer.controls import without_control_characters
from mailer.extensions import db

__all__ = ["FeedError", "ImportReport", "import_feed"]

Progress = Callable[[int, int], None]

# Opening tags of entries (any namespace prefix), counted before parsing so that a huge
# feed is refused without building 100,000 entries in memory.
_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
_IMAGE_PATH = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.IGNORECASE)


@dataclass
class ImportReport:
    """What an import did: counts, and the entries skipped as (identifier, reason)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


@cache
def _feedparser() -> Any:
    """feedparser, imported at the first import of a feed (not at every command's start),
    storing media:description and media:title apart from the entry's own.

    feedparser treats them as the entry's description and title, so an image caption
    replaces the article's summary or content (kurtmckee/feedparser#53).
    """
    import feedparser
    from feedparser.namespaces import mediarss

    ns: Any = mediarss.Namespace
    ns._start_media_description = lambda self, attrs: self.push("media_description", 1)
    ns._end_media_description = lambda self: self.pop("media_description")
    ns._start_media_title = lambda self, attrs: self.push("media_title", 1)
    ns._end_media_title = lambda self: self.pop("media_title")
    return feedparser


def import_feed(
    source: str, *, language: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Add or update the articles of the feed at `source` (http(s) URL or file path).

    Everything runs in one savepoint: on any error nothing is written. The caller commits.
    :param language: the feed's language as configured; it wins over what the feed says,
        also for articles already stored. Without it, a new article takes the entry's or the
        feed's own language (else DEFAULT_LANGUAGE) and one already stored keeps its own.
    :param progress: called with (entries done, entries in all) as the import goes.
    """
    config = current_app.config
    max_bytes, max_entries = int(config["FEED_MAX_BYTES"]), int(config["FEED_MAX_ENTRIES"])
    data = read_source(
        source, float(config["FEED_TIMEOUT"]), max_bytes, bool(config["FEED_PRIVATE_ADDRESSES"])
    )
    label, base = (f"The document at {source}", source) if is_url(source) else ("The file", "")
    if len(_ENTRY_TAG.findall(data)) > max_entries:
        raise _too_many(max_entries)
    # Always a stream: given bytes or a str, feedparser may open a file or a URL itself.
    # The content type is ours: parse as XML whatever a server calls it.
    headers = {"content-location": base, "content-type": "application/xml"}
    parsed = _feedparser().parse(io.BytesIO(data), response_headers=headers)
    entries = parsed.entries
    if not entries and (parsed.bozo or not parsed.version):
        reason = _reason(parsed.get("bozo_exception")) if parsed.bozo else "no feed elements"
        raise FeedError(f"{label} is not an RSS or Atom feed: {reason}.")
    if len(entries) > max_entries:
        raise _too_many(max_entries)
    given = primary_language(language)
    language = given or primary_language(parsed.feed.get("language")) or config["DEFAULT_LANGUAGE"]
    report = ImportReport()
    if progress is not None:
        progress(0, len(entries))
    with db.session.begin_nested():
        for number, entry in enumerate(entries, 1):
            _import_entry(_without_controls(entry), number, language, given is not None, report)
            if progress is not None:
                progress(number, len(entries))
    return report


def _without_controls(value: Any) -> Any:
    """A parsed entry without control characters in its text (tabs and line breaks kept): a
    feed is someone else's text, cleaned like its HTML; feedparser passes `&#0;` on as a NUL,
    which PostgreSQL refuses."""
    if isinstance(value, str):
        return without_control_characters(value)
    if isinstance(value, dict):  # feedparser's FeedParserDict too
        return type(value)({k: _without_controls(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    return value


def _import_entry(
    entry: Any, number: int, language: str, fixed: bool, report: ImportReport
) -> None:
    """`fixed`: the language was configured for the feed, the entry's own is not looked at."""
    if not fixed:
        language = primary_language(_entryprimary_language(entry)) or language
    title, link = _title(entry), own_link(entry, language)
    name = link or str(entry.get("id") or "").strip() or title or f"entry {number}"
    if not title:
        report.skipped.append((name, "no title"))
        return
    if not link:
        report.skipped.append((name, "no link"))
        return
    fields = _fields(entry, title, link, language)
    guid, key = translation_guid(str(fields["guid"] or link), link, language)
    fields["guid"] = guid
    try:
        outcome = upsert_from_feed(keep_language=not fixed, **fields)
    except ValueError as exc:  # also DuplicateArticle
        report.skipped.append((name, str(exc)))
        return
    article = stories.by_guid(guid)
    if article is not None:
        others = [h for code, h in alternates(entry) if code != language and h != link]
        shared = str(entry.get("dc_identifier") or key or "").strip()[:500]
        stories.link_on_import(article, others, shared)
    if outcome == "added":
        report.added += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.unchanged += 1


def _fields(entry: Any, title: str, link: str, language: str) -> dict[str, object]:
    """The article fields an entry gives; those it lacks are left out (kept on update)."""
    fields: dict[str, object] = {
        "title": clip(title, 500),
        "link": link,
        "guid": str(entry.get("id") or "").strip() or None,
        "language": language,
        "published_at": _time(entry.get("published_parsed") or entry.get("updated_parsed")),
    }
    if entry.get("summary"):
        html = "html" in str((entry.get("summary_detail") or {}).get("type", ""))
        fields["summary"] = entry.summary if html else escape(entry.summary)  # made text on save
    content = [c for c in entry.get("content", []) if c.get("value")]
    if content:
        is_html = content[0].get("type", "") in ("text/html", "application/xhtml+xml")
        fields["body_html"] = content[0].value if is_html else _paragraph(content[0].value)
    image_url, image_alt = _image(entry)
    if image_url:
        fields["image_url"], fields["image_alt"] = image_url, image_alt
        credit = next((c.get("content") for c in entry.get("media_credit", []) if c), None)
        if credit:
            fields["image_credit"] = clip(credit, 300)
    author = (entry.get("author_detail") or {}).get("name") or entry.get("author")
    if author and "@" not in author:  # RSS <author> is an email address: never store it
        fields["author"] = clip(author, 200)
    tags = _tags(entry)
    if tags:
        fields["tags"] = tags
    return fields


def _title(entry: Any) -> str:
    title = entry.get("title") or entry.get("media_title") or ""
    return _text(entry.get("title_detail"), title)


def _text(detail: Any, value: str) -> str:
    """Plain text of a feed text construct, whether it is declared HTML or text."""
    if detail and "html" in str(detail.get("type", "")):
        return html_to_text(value)
    return clip(value)


def _paragraph(text: str) -> str:
    return f"<p>{escape(clip(text))}</p>"


def _image(entry: Any) -> tuple[str | None, str | None]:
    """The entry's image: media:content, media:thumbnail or an image enclosure, and its alt."""
    urls = [
        m.get("url")
        for m in entry.get("media_content", [])
        if m.get("medium") == "image"
        or str(m.get("type", "")).startswith("image/")
        or (not m.get("medium") and not m.get("type") and _IMAGE_PATH.search(m.get("url", "")))
    ]
    urls += [t.get("url") for t in entry.get("media_thumbnail", [])]
    urls += [
        link.get("href")
        for link in entry.get("links", [])
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")
    ]
    url = next((u.strip() for u in urls if u and is_url(u.strip()) and len(u) <= 2000), None)
    if url is None:
        return None, None
    alt = entry.get("media_description") or entry.get("media_title")
    return url, (html_to_text(alt, 500) or None) if alt else None


def _tags(entry: Any) -> str:
    tags: list[str] = []
    for tag in entry.get("tags", []):
        text = clip(str(tag.get("label") or tag.get("term") or "").replace(",", " "), 100)
        if text and len(", ".join([*tags, text])) <= 500:
            tags.append(text)
    return ", ".join(tags)


def _entryprimary_language(entry: Any) -> str | None:
    for key in ("content", "summary_detail", "title_detail"):
        detail = entry.get(key)
        if isinstance(detail, list):
            detail = detail[0] if detail else None
        if detail and detail.get("language"):
            return str(detail["language"])
    return None


def _time(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)  # feedparser gives UTC
    except (TypeError, ValueError):
        return None


def _too_many(limit: int) -> FeedError:
    return FeedError(
        f"The feed has more than {limit} entries (FEED_MAX_ENTRIES); nothing was imported."
    )


def _reason(exc: object) -> str:
    if exc is None:
        return "unknown error"
    message = getattr(exc, "getMessage", None)
    line = getattr(exc, "getLineNumber", None)
    if callable(message) and callable(line):
        return f"{message()} at line {line()}"
    return str(exc) or type(exc).__name__
