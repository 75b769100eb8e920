"""A digest in each of its readers' languages, rendered once per language, never per reader.

A digest's stories are its items' articles; the readers of a language get each story's
version in their language where one exists, else the item's own article (marked with its
language), and the digest's subject and intro in their language where the editor wrote
them (DigestText), else the list's default. `render_all` renders one variant per language
the digest's readers use when sending starts (DigestRendering); workers pick each
reader's variant by language (`templates`), and fall back to the default language's.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import delete, select

from mailer.delivery.template import MessageTemplate
from mailer.digests.content import RenderedDigest, Variant, build_template, render_digest
from mailer.extensions import db
from mailer.models import Article, Delivery, Digest, DigestRendering, DigestText, Subscriber


def known(language: str | None, default: str) -> str:
    """The language if it is one of LANGUAGES, else the list's default."""
    return language if language and language in current_app.config["LANGUAGES"] else default


def texts(digest: Digest) -> dict[str, DigestText]:
    """The digest's subjects and intros in other languages than the list's, by language."""
    rows = db.session.scalars(select(DigestText).where(DigestText.digest_id == digest.id))
    return {row.language: row for row in rows}


def subjects(digests: Iterable[Digest], language: str) -> dict[int, tuple[str, str]]:
    """Each digest's subject for readers of `language`, by id, with the language it is in:
    the editor's in that language where there is one, else the list's default (one query)."""
    digests = list(digests)
    written: dict[int, str] = {}
    if digests:
        rows = db.session.execute(
            select(DigestText.digest_id, DigestText.subject).where(
                DigestText.digest_id.in_([d.id for d in digests]), DigestText.language == language
            )
        )
        written = {digest_id: subject for digest_id, subject in rows}
    found = {}
    for digest in digests:
        default = digest.mailing_list.language
        if language != default and digest.id in written:
            found[digest.id] = (written[digest.id], language)
        else:
            found[digest.id] = (digest.subject, default)
    return found


def save_texts(digest: Digest, given: dict[str, tuple[str, str]]) -> None:
    """Set the subject and intro per language; an empty subject drops the language's text.

    The caller checked the values (one-line subjects of at most 200 characters). Flushes.
    """
    default = digest.mailing_list.language
    existing = texts(digest)
    for language, (subject, intro) in given.items():
        if language == default or language not in current_app.config["LANGUAGES"]:
            continue
        row = existing.get(language)
        if not subject.strip():
            if row is not None:
                db.session.delete(row)
            continue
        if row is None:
            row = DigestText(digest_id=digest.id, language=language)
            db.session.add(row)
        row.subject, row.intro = subject.strip(), intro.strip()
    db.session.flush()


def story_versions(articles: Iterable[Article]) -> dict[int, dict[str, Article]]:
    """For each article (by id), the versions of its story by language (one query)."""
    articles = list(articles)
    stories = {a.story_id for a in articles if a.story_id is not None}
    by_story: dict[int, dict[str, Article]] = {}
    if stories:
        for other in db.session.scalars(select(Article).where(Article.story_id.in_(stories))):
            by_story.setdefault(other.story_id or 0, {})[other.language] = other
    return {
        a.id: by_story.get(a.story_id, {}) if a.story_id is not None else {a.language: a}
        for a in articles
    }


def variant(digest: Digest, language: str) -> Variant:
    """What the digest's readers of `language` get."""
    default = digest.mailing_list.language
    text = texts(digest).get(language) if language != default else None
    articles = digest.articles
    versions = story_versions(articles)
    return Variant(
        language=language,
        subject=text.subject if text is not None else digest.subject,
        intro=text.intro if text is not None else digest.intro,
        articles=[versions[a.id].get(language, a) for a in articles],
        text_language=default if text is None and language != default else None,
    )


def languages(digest: Digest) -> list[str]:
    """The languages the digest has something in: the list's, its texts', its stories'."""
    default = digest.mailing_list.language
    found = {default, *texts(digest)}
    for versions in story_versions(digest.articles).values():
        found.update(versions)
    ordered = [code for code in current_app.config["LANGUAGES"] if code in found]
    return [default, *(code for code in ordered if code != default)]


def reader_languages(digest: Digest) -> list[str]:
    """The languages of the digest's recipients (its outbox), each mapped to a known one."""
    default = digest.mailing_list.language
    found = db.session.scalars(
        select(Subscriber.language)
        .distinct()
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.digest_id == digest.id)
    )
    return sorted({known(code, default) for code in found} | {default})


def render_all(digest: Digest) -> dict[str, RenderedDigest]:
    """Render the digest once per language its readers use and store each; flushes.

    The default language's rendering is also the digest's own `rendered_*`.
    """
    db.session.execute(delete(DigestRendering).where(DigestRendering.digest_id == digest.id))
    rendered: dict[str, RenderedDigest] = {}
    for language in reader_languages(digest):
        rendered[language] = one = render_digest(digest, variant=variant(digest, language))
        db.session.add(
            DigestRendering(
                digest_id=digest.id,
                language=language,
                subject=one.subject,
                text=one.text,
                html=one.html,
            )
        )
    default = rendered[digest.mailing_list.language]
    digest.rendered_subject = default.subject
    digest.rendered_html = default.html
    digest.rendered_text = default.text
    db.session.flush()
    return rendered


_templates: dict[tuple[int, str, str], MessageTemplate] = {}
_digest_key: tuple[int, str] | None = None


def templates(digest: Digest, wanted: Iterable[str]) -> dict[str, MessageTemplate]:
    """The digest's message per language, built once per worker process from its renderings.

    A language without a rendering (a reader changed language after sending started) is
    left out: the caller falls back to the default language's message.
    """
    global _digest_key
    key = (digest.id, str(digest.started_at))
    if _digest_key != key:
        _templates.clear()  # one digest at a time is the common case; keep memory flat
        _digest_key = key
    missing = {w for w in wanted if (*key, w) not in _templates}
    if missing:
        rows = db.session.scalars(
            select(DigestRendering).where(
                DigestRendering.digest_id == digest.id, DigestRendering.language.in_(missing)
            )
        )
        for row in rows:
            _templates[(*key, row.language)] = build_template(
                digest.mailing_list, row.subject, row.text, row.html
            )
    return {w: _templates[(*key, w)] for w in wanted if (*key, w) in _templates}
