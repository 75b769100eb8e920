"""Stories: articles in several languages linked as translations of one another.

An article's `story_id` names its story; an article without one is a story of its own.
A story holds at most one article per language. Linking joins two stories into one.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import Article, Story


class LinkRefused(ValueError):
    """The two articles cannot be linked (same article, or a language twice in the story)."""


def versions(article: Article) -> list[Article]:
    """Every version of the article's story, itself included, by language."""
    if article.story_id is None:
        return [article]
    found = db.session.scalars(select(Article).where(Article.story_id == article.story_id))
    return sorted(found, key=lambda a: (a.language, a.id))


def language_name(code: str) -> str:
    return str(current_app.config["LANGUAGES"].get(code, code))


def link(article: Article, original: Article) -> None:
    """Make `article` (and its story) a translation of `original`'s story; flushes.

    Raises LinkRefused, before writing anything, if the joined story would hold two
    articles in one language.
    """
    if article.id == original.id or (
        article.story_id is not None and article.story_id == original.story_id
    ):
        if article.id == original.id:
            raise LinkRefused("An article cannot be a translation of itself.")
        return
    theirs, ours = versions(original), versions(article)
    taken = {a.language: a for a in theirs}
    for version in ours:
        if version.language in taken:
            other = taken[version.language]
            raise LinkRefused(
                f"“{original.title}” already has a {language_name(version.language)} "
                f"version: “{other.title}”. Unlink it first."
            )
    if original.story_id is None:
        story = Story()
        db.session.add(story)
        db.session.flush()
        original.story_id = story.id
    if article.story_id is not None:
        db.session.execute(
            update(Article)
            .where(Article.story_id == article.story_id)
            .values(story_id=original.story_id)
            .execution_options(synchronize_session="fetch")
        )
    article.story_id = original.story_id
    db.session.flush()


def unlink(article: Article) -> None:
    """Take the article out of its story (the others stay linked); flushes."""
    article.story_id = None
    db.session.flush()


def check_language(article: Article, language: str) -> None:
    """Refuse a language another version of the article's story already has."""
    if article.story_id is None:
        return
    for other in versions(article):
        if other.id != article.id and other.language == language:
            raise LinkRefused(
                f"This story already has a {language_name(language)} version: “{other.title}”."
            )


def candidates(article: Article | None, limit: int = 200) -> Sequence[Article]:
    """Articles an editor may pick as the one this is a translation of: recent ones, not itself."""
    query = select(Article).order_by(Article.published_at.desc(), Article.id.desc())
    if article is not None and article.id is not None:
        query = query.where(Article.id != article.id)
    return db.session.scalars(query.limit(limit)).all()


def one_per_story(articles: Sequence[Article], language: str) -> list[Article]:
    """The articles with one version per story: the one in `language`, else the first given."""
    chosen: dict[int, Article] = {}
    order: list[int | Article] = []
    for article in articles:
        if article.story_id is None:
            order.append(article)
            continue
        if article.story_id not in chosen:
            order.append(article.story_id)
            chosen[article.story_id] = article
        elif article.language == language and chosen[article.story_id].language != language:
            chosen[article.story_id] = article
    return [chosen[item] if isinstance(item, int) else item for item in order]


def link_on_import(article: Article, alternates: Sequence[str], key: str | None) -> None:
    """Link an imported article to the versions its feed names; what would clash is left.

    `alternates`: links of its versions in other languages (Atom hreflang alternates);
    `key`: an identifier the versions share (dc:identifier, or a guid used by each).
    """
    for href in alternates:
        other = db.session.scalar(select(Article).where(Article.link == href))
        if other is not None and other.language != article.language:
            _try_link(article, other)
    if not key:
        return
    owner = by_guid(key)  # a version whose own guid is the shared identifier
    if owner is not None and owner.language != article.language:
        _try_link(article, owner)
    story = db.session.scalar(select(Story).where(Story.key == key))
    if story is None:
        if article.story_id is None:
            story = Story(key=key)
            db.session.add(story)
            db.session.flush()
            article.story_id = story.id
        else:
            own = db.session.get(Story, article.story_id)
            if own is not None and own.key is None:
                own.key = key
        db.session.flush()
        return
    if article.story_id == story.id:
        return
    member = db.session.scalar(select(Article).where(Article.story_id == story.id).limit(1))
    if member is not None:
        _try_link(article, member)
    elif article.story_id is None:
        article.story_id = story.id
        db.session.flush()


def _try_link(article: Article, other: Article) -> None:
    try:
        link(article, other)
    except LinkRefused:
        pass  # a feed naming two versions in one language: keep what is linked


def by_guid(guid: str) -> Article | None:
    return db.session.scalar(select(Article).where(Article.guid == guid))
