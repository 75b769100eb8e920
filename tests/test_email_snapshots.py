"""Snapshots of the transactional mails: confirmation, already subscribed, links on request.

Review a change, then update with UPDATE_SNAPSHOTS=1 (as tests/test_digest_render.py does).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from mailer.emails import render_email

SNAPSHOTS = Path(__file__).parent / "snapshots" / "email"
ROOT = Path(__file__).resolve().parent.parent
BASE = "http://localhost"
UNSUBSCRIBE = f"{BASE}/unsubscribe/UNSUBSCRIBE-TOKEN"
# What a visitor could type into the sign-up form: no mail may show it (audit M3).
STRANGER = SimpleNamespace(name="URGENT: verify at https://evil.example/login")

MAILS: dict[str, dict[str, Any]] = {
    "confirm": {
        "subscriber": STRANGER,  # even if a caller passed it
        "lists": [
            SimpleNamespace(name="Weekly updates", language="en"),
            SimpleNamespace(name="Alertes", language="fr"),
        ],
        "confirm_url": f"{BASE}/confirm/CONFIRM-TOKEN",
        "max_age_days": 7,
    },
    "already_subscribed": {
        "subscriber": SimpleNamespace(name="Ada"),  # a confirmed subscriber's own name
        "preferences_url": f"{BASE}/preferences/PREFERENCES-TOKEN",
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "link_data": {
        "url": f"{BASE}/data/DATA-TOKEN",
        "max_age_minutes": 60,
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "link_erase": {
        "url": f"{BASE}/erase/ERASE-TOKEN",
        "max_age_minutes": 60,
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "digest_review": {
        "list_name": "Weekly updates",
        "subject": "Weekly updates: 27 November 2026",
        "articles": 3,
        "automatic": False,
        "slot": "Fri 27 Nov 2026, 09:00 (Europe/Berlin, UTC+01:00)",
        "review_url": f"{BASE}/admin/digests/7",
    },
    "digest_paused": {
        "subject": "This week's news",
        "list_name": "Weekly updates",
        "reason": "Paused automatically: 30 hard bounces among 500 messages sent (6 %), over"
        " this list's limit of 5 % (checked once 500 messages are out).",
        "url": f"{BASE}/admin/digests/7",
    },
    "editor_notice": {"event": "password", "when": "30 November 2026, 12:00 UTC"},
    "editor_notice_reset": {  # the same template, another event
        "_template": "editor_notice",
        "event": "second_factor_reset",
        "when": "30 November 2026, 12:00 UTC",
    },
    "editor_notice_browsers": {
        "_template": "editor_notice",
        "event": "browsers_forgotten",
        "when": "30 November 2026, 12:00 UTC",
    },
    "link_preferences": {
        "url": f"{BASE}/preferences/PREFERENCES-TOKEN",
        "max_age_minutes": 60,
        "unsubscribe_url": UNSUBSCRIBE,
    },
}


# English (the source) and every catalogue under translations/.
LANGUAGES = (
    "en",
    *sorted(p.parent.parent.name for p in (ROOT / "translations").glob("*/LC_MESSAGES/*.po")),
)


def snapshot_dir(language: str) -> Path:
    """English (the source language) at the top, every other language in its own folder."""
    return SNAPSHOTS if language == "en" else SNAPSHOTS / language


def check_snapshots(parts: dict[str, str], folder: Path) -> None:
    update = os.environ.get("UPDATE_SNAPSHOTS") == "1"
    for filename, content in parts.items():
        path = folder / filename
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        assert path.is_file(), f"{path} is missing: run the tests with UPDATE_SNAPSHOTS=1"
        assert content == path.read_text(encoding="utf-8"), f"{path} changed: review, update"


# Mails to editors, not readers: in English, like the admin (until it has catalogues).
EDITOR_MAILS = (
    "digest_paused",
    "digest_review",
    "editor_notice",
    "editor_notice_reset",
    "editor_notice_browsers",
)
READER_MAILS = sorted(set(MAILS) - set(EDITOR_MAILS))


@pytest.mark.parametrize(
    ("name", "language"),
    [(name, language) for name in READER_MAILS for language in LANGUAGES]
    + [(name, "en") for name in EDITOR_MAILS],
)
def test_transactional_mail_matches_snapshot(app: Flask, name: str, language: str) -> None:
    context = dict(MAILS[name])
    template = context.pop("_template", name)
    with app.app_context():
        email = render_email(template, to="reader@example.org", language=language, **context)
    parts = {
        f"{name}.subject.txt": email.subject + "\n",
        f"{name}.txt": email.text,
        f"{name}.html": email.html,
    }
    for content in parts.values():
        assert "URGENT" not in content and "evil.example" not in content
    direction = "rtl" if language in ("ar", "fa") else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in email.html
    assert email.html.count(f'dir="{direction}"') >= 4  # html, body and both layout tables
    check_snapshots(parts, snapshot_dir(language))


def test_mail_in_an_unknown_language_is_in_the_default_language(app: Flask) -> None:
    with app.app_context():
        english = render_email("confirm", to="reader@example.org", **MAILS["confirm"])
        unknown = render_email(
            "confirm", to="reader@example.org", language="xx", **MAILS["confirm"]
        )
    assert unknown.subject == english.subject
    assert english.subject.startswith("Confirm your subscription to ")
    assert unknown.text == english.text


def test_counts_take_the_plural_form_of_the_language(app: Flask) -> None:
    """ngettext with each catalogue's plural rule: 1, 2-4 and 5 days differ in Russian."""
    texts = {}
    with app.app_context():
        for days in (1, 3, 5, 21):
            context = {**MAILS["confirm"], "max_age_days": days}
            texts[days] = render_email("confirm", to="r@example.org", language="ru", **context).text
    assert "действует 1 день." in texts[1]
    assert "действует 3 дня." in texts[3]
    assert "действует 5 дней." in texts[5]
    assert "действует 21 день." in texts[21]
    with app.app_context():
        arabic = render_email("confirm", to="r@example.org", language="ar", **MAILS["confirm"])
        two = render_email(
            "confirm", to="r@example.org", language="ar", **{**MAILS["confirm"], "max_age_days": 2}
        )
    assert "خلال 7 أيام." in arabic.text
    assert "خلال يومين." in two.text
