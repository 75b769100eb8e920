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
BASE = "http://localhost"
UNSUBSCRIBE = f"{BASE}/unsubscribe/UNSUBSCRIBE-TOKEN"
# What a visitor could type into the sign-up form: no mail may show it (audit M3).
STRANGER = SimpleNamespace(name="URGENT: verify at https://evil.example/login")

MAILS: dict[str, dict[str, Any]] = {
    "confirm": {
        "subscriber": STRANGER,  # even if a caller passed it
        "lists": [SimpleNamespace(name="Weekly updates"), SimpleNamespace(name="Alerts")],
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
    "link_preferences": {
        "url": f"{BASE}/preferences/PREFERENCES-TOKEN",
        "max_age_minutes": 60,
        "unsubscribe_url": UNSUBSCRIBE,
    },
}


@pytest.mark.parametrize("name", sorted(MAILS))
def test_transactional_mail_matches_snapshot(app: Flask, name: str) -> None:
    with app.app_context():
        email = render_email(name, to="reader@example.org", **MAILS[name])
    parts = {
        f"{name}.subject.txt": email.subject + "\n",
        f"{name}.txt": email.text,
        f"{name}.html": email.html,
    }
    for content in parts.values():
        assert "URGENT" not in content and "evil.example" not in content
    update = os.environ.get("UPDATE_SNAPSHOTS") == "1"
    for filename, content in parts.items():
        path = SNAPSHOTS / filename
        if update:
            path.write_text(content, encoding="utf-8")
        assert path.is_file(), f"{path} is missing: run the tests with UPDATE_SNAPSHOTS=1"
        assert content == path.read_text(encoding="utf-8"), f"{filename} changed: review, update"
