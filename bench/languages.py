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

from sqlalchemy import case, func, select, update

from bench import seed
from mailer.articles import stories
from mailer.digests import variants
from mailer.extensions import db
from mailer.models import Delivery, Subscriber

LANGUAGES = ("en", "fr", "es", "ru", "ar", "fa", "tr")
SLUG = "multi"


def seed_digest(recipients: int, extras: int) -> int:
    """The seven-language list and its draft digest; the digest's id. Commits."""
    originals = seed.make_articles(seed=11)
    for n, language in enumerate(LANGUAGES[1:], 1):
        versions = seed.make_articles(seed=11 + n)
        for original, version in zip(originals, versions, strict=True):
            version.language = language
            stories.link(version, original)
    mailing_list = seed.seed_list(SLUG, recipients, extras)
    position = Subscriber.id % len(LANGUAGES)
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.email.like(f"{SLUG}-%"))
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
