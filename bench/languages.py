"""The delivery benchmark's seven-language run: readers spread over en, fr, es, ru, ar, fa, tr.

A second list of the same size as the one-language run's, its readers' languages set in
turn by id, and a digest whose ten stories each have a version in every language, linked as
translations, with a subject and an intro per language: the fan-out renders it seven times
and every worker picks each reader's variant. The versions are the same generated Latin-
script text as the English ones (same sizes on the wire), so the comparison measures the
variant machinery, not the cost of quoted-printable Cyrillic or Arabic.
"""

from __future__ import annotations

import random

from flask import Flask
from sqlalchemy import case, func, select, update

from bench import seed
from bench.sink import Sink
from mailer.articles import stories
from mailer.digests import outbox, variants
from mailer.extensions import db
from mailer.models import Delivery, Digest, Subscriber
from mailer.tasks import enqueue_batches

LANGUAGES = ("en", "fr", "es", "ru", "ar", "fa", "tr")
SLUG = "multi"


def seed_digest(recipients: int, extras: int, slug: str = SLUG, like: int | None = None) -> int:
    """A seven-language list and its draft digest; the digest's id. Commits.

    `like`: a digest whose stories (translated already) the new one takes.
    """
    if like is None:
        originals = seed.make_articles(seed=11)
        for n, language in enumerate(LANGUAGES[1:], 1):
            versions = seed.make_articles(seed=11 + n)
            for original, version in zip(originals, versions, strict=True):
                version.language = language
                stories.link(version, original)
    else:
        found = db.session.get(Digest, like)
        assert found is not None
        originals = found.articles
    mailing_list = seed.seed_list(slug, recipients, extras)
    position = Subscriber.id % len(LANGUAGES)
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.email.like(f"{slug}-%"))
        .values(language=case(*((position == i, code) for i, code in enumerate(LANGUAGES))))
        .execution_options(synchronize_session=False)
    )
    digest = seed.make_digest(mailing_list, originals)
    rng = random.Random(17)
    variants.save_texts(
        digest,
        {
            code: (f"This week in press freedom ({code})", seed.paragraph(rng, 640))
            for code in LANGUAGES[1:]
        },
    )
    db.session.commit()
    return digest.id


def warm_up(app: Flask, digest_id: int, sink: Sink, count: int, timeout: float = 300) -> bool:
    """Send a small seven-language digest first, so that neither timed run pays for the
    worker processes' first batches (connections, imports, caches). Untimed."""
    with app.app_context():
        outbox.start(digest_id)
        db.session.commit()
        target = sink.count + count
        enqueue_batches(digest_id)
    return sink.wait_for(target, timeout)


def spread(digest_id: int) -> str:
    """How the digest's readers spread over languages, e.g. "en 1,429 · fr 1,429 · ..."."""
    rows = db.session.execute(
        select(Subscriber.language, func.count())
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.digest_id == digest_id)
        .group_by(Subscriber.language)
        .order_by(Subscriber.language)
    ).all()
    return " · ".join(f"{code} {count:,}" for code, count in rows)
