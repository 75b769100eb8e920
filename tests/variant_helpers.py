"""Test data for digests in several languages: stories linked across languages, readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from mailer.articles import stories
from mailer.digests import service, variants
from mailer.extensions import db
from mailer.models import Article, MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash

WHEN = datetime(2026, 11, 20, tzinfo=UTC)


def article(slug: str, title: str, language: str, summary: str = "") -> Article:
    made = Article(
        guid=slug,
        link=f"https://news.example.org/{language}/{slug}",
        title=title,
        summary=summary or f"Summary of {title}.",
        language=language,
        published_at=WHEN,
    )
    db.session.add(made)
    db.session.flush()
    return made


@dataclass
class StoryDigest:
    digest_id: int
    reader_ids: dict[str, list[int]]  # language -> subscriber ids


def weekly() -> MailingList:
    found = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
    assert found is not None
    return found


def make_story_digest(app: Flask, readers: dict[str, int] | None = None) -> StoryDigest:
    """Two stories: "Bridge" in en, fr and ru; "Harvest" only in en. French subject and intro.

    Readers: `readers` per language (default one each in en, fr and ru).
    """
    readers = readers if readers is not None else {"en": 1, "fr": 1, "ru": 1}
    with app.app_context():
        bridge = article("bridge", "The river bridge reopens", "en")
        stories.link(article("pont", "Le pont sur la rivière rouvre", "fr"), bridge)
        stories.link(article("most", "Мост через реку снова открыт", "ru"), bridge)
        harvest = article("harvest", "An early harvest in the valley", "en")
        digest = service.create_digest(weekly(), [bridge, harvest], subject="This week")
        digest.intro = "Two stories this week."
        variants.save_texts(digest, {"fr": ("Cette semaine", "Deux histoires cette semaine.")})
        ids: dict[str, list[int]] = {}
        for language, count in readers.items():
            for i in range(count):
                email = f"{language}{i}@example.org"
                reader = Subscriber(
                    email=email, address_hash=address_hash(email), language=language
                )
                reader.subscriptions.append(
                    Subscription(mailing_list=weekly(), status=SubscriptionStatus.confirmed)
                )
                db.session.add(reader)
                db.session.flush()
                ids.setdefault(language, []).append(reader.id)
        db.session.commit()
        return StoryDigest(digest.id, ids)
