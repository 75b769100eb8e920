"""Composing digests: pick the articles since the list's last digest, edit, schedule."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from mailer.articles import stories
from mailer.delivery.headers import check_header
from mailer.digests.weekly import carried_articles
from mailer.extensions import db
from mailer.models import Article, Digest, DigestItem, DigestStatus, MailingList, utcnow


def state_sentence(shown_status: str | None) -> str:
    """ "This digest is a draft", "... is already sent", "... no longer exists" (None), for
    the messages editors get (the admin and the CLI alike)."""
    if shown_status is None:
        return "This digest no longer exists"
    phrase = {"draft": "a draft", "sent": "already sent"}.get(shown_status, shown_status)
    return f"This digest is {phrase}"


class DigestLocked(Exception):
    """The digest is sending or done: it can no longer be edited."""

    def __init__(self, digest: Digest) -> None:
        super().__init__(
            f"{state_sentence(digest.shown_status)}: it can no longer be edited. "
            "Pause or cancel it first, or start a new digest."
        )
        self.digest = digest


class NoArticles(Exception):
    """There is nothing new to send to this list."""


MAX_SUBJECT = 200


def last_sent_at(mailing_list: MailingList) -> datetime | None:
    """When the list's last digest went out (sending started), or None."""
    return db.session.scalar(
        select(func.max(func.coalesce(Digest.started_at, Digest.sent_at))).where(
            Digest.list_id == mailing_list.id,
            Digest.status.in_([DigestStatus.sending, DigestStatus.paused, DigestStatus.sent]),
        )
    )


def articles_since_last_digest(mailing_list: MailingList, cap: int | None = None) -> list[Article]:
    """Articles published since the list's last digest, newest first, at most `cap`.

    Not those a scheduled, sending or sent digest of the list carries: no article goes to
    a list twice. One version per story: the list's language where the story has it.
    """
    query = (
        select(Article)
        .where(Article.id.not_in(carried_articles(mailing_list.id)))
        .order_by(Article.published_at.desc(), Article.id.desc())
    )
    since = last_sent_at(mailing_list)
    if since is not None:
        query = query.where(Article.published_at > since)
    limit = cap if cap is not None else current_app.config["DIGEST_MAX_ARTICLES"]
    versions = len(current_app.config["LANGUAGES"])  # enough rows for `limit` stories
    found = list(db.session.scalars(query.limit(limit * versions)))
    return stories.one_per_story(found, mailing_list.language)[:limit]


def _unique_slug(base: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:100] or "digest"
    taken = set(db.session.scalars(select(Digest.slug).where(Digest.slug.like(f"{base}%"))))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_digest(
    mailing_list: MailingList,
    articles: Sequence[Article] | None = None,
    *,
    subject: str | None = None,
    intro: str = "",
    schedule_slot: datetime | None = None,
) -> Digest:
    """A draft digest for the list, with the given articles or those since its last digest."""
    chosen = list(articles) if articles is not None else articles_since_last_digest(mailing_list)
    today = utcnow()
    digest = Digest(
        mailing_list=mailing_list,
        list_id=mailing_list.id,
        slug=_unique_slug(f"{mailing_list.slug}-{today:%Y-%m-%d}"),
        subject=check_header("Subject", subject or f"{mailing_list.name}: {today:%-d %B %Y}")[
            :MAX_SUBJECT
        ],
        intro=intro,
        schedule_slot=schedule_slot,
        items=[DigestItem(article=a, position=i) for i, a in enumerate(chosen)],
    )
    db.session.add(digest)
    db.session.flush()
    return digest


def update_digest(digest: Digest, *, subject: str, intro: str, article_ids: Sequence[int]) -> None:
    """Set subject, intro and the ordered articles of an editable digest."""
    if not digest.editable:
        raise DigestLocked(digest)
    wanted = list(dict.fromkeys(article_ids))
    found = {a.id: a for a in db.session.scalars(select(Article).where(Article.id.in_(wanted)))}
    digest.subject = check_header("Subject", subject.strip())[:MAX_SUBJECT]
    digest.intro = intro.strip()
    digest.items.clear()
    db.session.flush()  # delete the old rows before re-adding (unique digest × article)
    digest.items.extend(
        DigestItem(article=found[aid], position=i)
        for i, aid in enumerate(a for a in wanted if a in found)
    )
    db.session.flush()


def recent_articles(limit: int = 50) -> list[Article]:
    """Articles an editor may add to a digest, newest first."""
    return list(
        db.session.scalars(select(Article).order_by(Article.published_at.desc()).limit(limit))
    )
