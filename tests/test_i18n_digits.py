"""Numbers and dates in the language's own digits (issue 12): CLDR's default numbering system
for the locale, as Babel gives it: Persian digits (arabext) for fa, Latin digits for en and
for plain ar (CLDR's default for "ar" is latn)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask

from mailer import i18n
from mailer.digests.content import render_digest
from mailer.emails import render_email
from mailer.extensions import db
from mailer.models import Digest
from tests.variant_helpers import make_story_digest

PERSIAN = re.compile("[۰-۹]")
ARABIC_INDIC = re.compile("[٠-٩]")
LATIN = re.compile("[0-9]")
CODES = ("en", "fa", "ar", "ru", "tr", "fr", "es")
WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _issue_line(text: str) -> str:
    """The text part's line "Weekly updates · <date>"."""
    return next(line for line in text.splitlines() if line.startswith(("Weekly", "\u2068Weekly")))


def test_the_persian_digest_date_has_persian_digits_and_the_english_one_latin(
    app: Flask,
) -> None:
    made = make_story_digest(app)
    with app.app_context():
        digest = db.session.get(Digest, made.digest_id)
        assert digest is not None
        digest.sent_at = WHEN
        dates = {code: _issue_line(render_digest(digest, language=code).text) for code in CODES}
    assert "۳۰" in dates["fa"] and "۲۰۲۶" in dates["fa"] and not LATIN.search(dates["fa"])
    assert "30" in dates["en"] and "2026" in dates["en"] and not PERSIAN.search(dates["en"])
    assert not ARABIC_INDIC.search(dates["en"])
    for code in ("en", "ar", "ru", "tr", "fr", "es"):  # CLDR: latn for each of these
        assert "2026" in dates[code], (code, dates[code])


def test_counts_in_a_persian_mail_are_in_persian_digits(app: Flask) -> None:
    with app.app_context():
        mails = {
            code: render_email(
                "link_erase",
                to="reader@example.org",
                language=code,
                url="http://localhost/erase/T",
                max_age_minutes=60,
                unsubscribe_url="http://localhost/unsubscribe/U",
            )
            for code in ("fa", "en")
        }
    fa, en = mails["fa"], mails["en"]
    assert "۶۰" in fa.text and "۶۰" in fa.html
    assert "60 minutes" in en.text and not PERSIAN.search(en.text + en.html)
    # Addresses stay as they are: only the sentence's number changes script.
    assert "http://localhost/erase/T" in fa.text


def test_digits_follow_the_locales_default_numbering_system(app: Flask) -> None:
    with app.app_context():
        assert i18n.digits("30 نوامبر 2026", "fa") == "۳۰ نوامبر ۲۰۲۶"
        assert i18n.digits("2026", "ar") == "2026"  # "ar" itself: latn in CLDR
        assert i18n.digits("2026", "ar_EG") == "٢٠٢٦"  # arab
        assert i18n.digits("2026", "en") == "2026"
        assert i18n.number(1234567, "fa") == "۱٬۲۳۴٬۵۶۷"
        assert i18n.number(1234567, "en") == "1,234,567"
        with i18n.language("fa"):
            assert i18n.format_day(WHEN) == "۳۰ نوامبر ۲۰۲۶"
