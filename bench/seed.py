"""Data for the delivery benchmark: generated articles, a digest, and many subscribers, fast.

Subscribers go in with executemany in large chunks and their subscriptions with one
INSERT ... SELECT each, so 100,000 (or a million, on PostgreSQL) take seconds, not minutes.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import func, insert, literal, select, text

from mailer.digests.service import create_digest
from mailer.extensions import db
from mailer.models import (
    Article,
    Digest,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.models.base import UTCDateTime
from mailer.privacy import address_hash

CHUNK = 20_000
DOMAINS = ("example.org", "example.net", "example.com")
NAMES = ("Amina", "Sam", "Lucía", "Farid", "Olena", "Kwame", "Mei", "Dmitri", "Zeynep", "Ana")
WORDS = (
    "the court government journalists press freedom newspaper editor reporter arrested "
    "released charges trial appeal ruling law parliament minister police protest protesters "
    "city region border election campaign opposition activists rights groups international "
    "observers said on Tuesday last week according to documents seen by local officials "
    "denied any wrongdoing while families waited outside for news of their relatives who "
    "had been held without access to lawyers since the raid on the offices of an independent "
    "radio station that had reported on corruption in public contracts and the ministry of "
    "interior issued a statement calling the coverage misleading but did not explain which "
    "facts it disputed or why broadcasters were ordered off the air for thirty days"
).split()
REGIONS = ("East Africa", "Central Asia", "Latin America", "Middle East", "Southeast Asia")


def sentence(rng: random.Random, words: int) -> str:
    text_ = " ".join(rng.choice(WORDS) for _ in range(words))
    return text_[0].upper() + text_[1:] + "."


def paragraph(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < chars:
        out.append(sentence(rng, rng.randint(12, 26)))
    return " ".join(out)


def make_articles(count: int = 10, summary_chars: int = 850, seed: int = 4) -> list[Article]:
    """`count` articles with realistic-length titles and summaries and images by URL."""
    rng = random.Random(seed)
    now = utcnow()
    articles = []
    for i in range(count):
        title = sentence(rng, rng.randint(7, 13)).rstrip(".")
        slug = f"2026/11/story-{i + 1}-{secrets.token_hex(3)}"
        articles.append(
            Article(
                guid=f"https://news.example.org/{slug}",
                link=f"https://news.example.org/{slug}",
                title=title,
                summary=paragraph(rng, summary_chars),
                image_url=f"https://media.example.org/images/2026/11/{i + 1:02d}-large.jpg",
                image_alt=sentence(rng, 8),
                image_credit=f"Photo: {rng.choice(NAMES)} / Example Agency",
                author=f"{rng.choice(NAMES)} {rng.choice(('Haddad', 'Okafor', 'Rossi', 'Kim'))}",
                region=rng.choice(REGIONS),
                published_at=now - timedelta(hours=i + 1),
            )
        )
    db.session.add_all(articles)
    db.session.flush()
    return articles


def make_digest(mailing_list: MailingList, articles: list[Article]) -> Digest:
    rng = random.Random(7)
    intro = "\n\n".join(paragraph(rng, 320) for _ in range(2))
    return create_digest(mailing_list, articles, subject="This week in press freedom", intro=intro)


def add_subscribers(
    mailing_list: MailingList, prefix: str, count: int, status: SubscriptionStatus
) -> None:
    """`count` subscribers of the list with the given status (executemany + INSERT ... SELECT)."""
    if count <= 0:
        return
    now = utcnow()
    first = int(db.session.scalar(select(func.coalesce(func.max(Subscriber.id), 0))) or 0)
    for lo in range(0, count, CHUNK):
        rows = []
        for i in range(lo, min(count, lo + CHUNK)):
            email = f"{prefix}{i:07d}@{DOMAINS[i % len(DOMAINS)]}"
            rows.append(
                {
                    "uid": secrets.token_urlsafe(16),
                    "email": email,
                    "address_hash": address_hash(email),
                    "name": NAMES[i % len(NAMES)] if i % 2 else None,
                    "language": "en",
                    "created_at": now,
                }
            )
        db.session.execute(insert(Subscriber.__table__), rows)  # type: ignore[arg-type]
    confirmed = status == SubscriptionStatus.confirmed
    stamp = literal(now, type_=UTCDateTime())
    source = select(
        Subscriber.id,
        literal(mailing_list.id),
        literal(status.value),
        stamp,
        stamp if confirmed else literal(None, type_=UTCDateTime()),
    ).where(Subscriber.id > first)
    db.session.execute(
        insert(Subscription).from_select(
            ["subscriber_id", "list_id", "status", "created_at", "confirmed_at"], source
        )
    )


def suppress_some(prefix: str, count: int) -> None:
    """Suppress the first `count` addresses with this prefix (they stay `confirmed`)."""
    emails = db.session.scalars(
        select(Subscriber.email).where(Subscriber.email.like(f"{prefix}%")).limit(count)
    )
    db.session.execute(
        insert(Suppression),
        [
            {"address_hash": address_hash(e), "reason": SuppressionReason.hard_bounce}
            for e in emails
        ],
    )


def seed_list(slug: str, recipients: int, extras: int) -> MailingList:
    """A list with `recipients` confirmed subscribers, and `extras` each of pending,
    unsubscribed and confirmed-but-suppressed ones that a fan-out must leave out."""
    mailing_list = MailingList(slug=slug, name=f"{slug.title()} updates")
    db.session.add(mailing_list)
    db.session.flush()
    add_subscribers(mailing_list, f"{slug}-r", recipients, SubscriptionStatus.confirmed)
    add_subscribers(mailing_list, f"{slug}-p", extras, SubscriptionStatus.pending)
    add_subscribers(mailing_list, f"{slug}-u", extras, SubscriptionStatus.unsubscribed)
    add_subscribers(mailing_list, f"{slug}-s", extras, SubscriptionStatus.confirmed)
    if extras:
        suppress_some(f"{slug}-s", extras)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))  # what autovacuum would have done by now
        db.session.commit()
    return mailing_list
