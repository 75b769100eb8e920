"""A digest in three languages sent by a real worker: each reader gets theirs, exactly once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from mailer.digests import lifecycle
from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, DigestRendering
from tests.conftest import SmtpServer
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import wait_until_sent
from tests.variant_helpers import make_story_digest

EXPECTED = {
    "en": ("This week", "Two stories this week.", "The river bridge reopens", None),
    "fr": (
        "Cette semaine",
        "Deux histoires cette semaine.",
        "Le pont sur la rivière rouvre",
        "(en anglais)",
    ),
    "ru": (
        "This week",
        "Two stories this week.",
        "Мост через реку снова открыт",
        "(на английском)",
    ),
}


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"DELIVERY_BATCH_SIZE": 4}


def test_readers_in_three_languages_each_get_their_variant_once(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    smtp_server.clear()
    made = make_story_digest(live_app, {"en": 5, "fr": 5, "ru": 5})
    with live_app.app_context():
        assert lifecycle.start(made.digest_id)
        db.session.commit()
    received = smtp_server.wait_for(15, timeout=60)
    wait_until_sent(live_app, timeout=60)
    time.sleep(0.5)  # anything extra would have arrived by now
    assert len(smtp_server.received) == 15, celery_worker.output()[-3000:]
    addresses = sorted(r.rcpt_tos[0] for r in received)
    assert addresses == sorted(f"{lang}{i}@example.org" for lang in EXPECTED for i in range(5))
    for r in received:
        language = r.rcpt_tos[0][:2]
        subject, intro, story, note = EXPECTED[language]
        message = r.message
        assert message["Subject"] == subject
        html, text = message.get_body(("html",)), message.get_body(("plain",))
        assert html is not None and text is not None
        for part in (html.get_content(), text.get_content()):
            assert intro in part and story in part
            assert "An early harvest in the valley" in part  # no translation: the original
            if note:
                assert note in part
            else:
                assert "(in " not in part
        assert f'<html lang="{language}" dir="ltr">' in html.get_content()
    with live_app.app_context():
        statuses = db.session.scalars(
            select(Delivery.status).where(Delivery.digest_id == made.digest_id)
        ).all()
        assert statuses == [DeliveryStatus.sent] * 15
        stored = db.session.scalars(
            select(DigestRendering.language).where(DigestRendering.digest_id == made.digest_id)
        ).all()
        assert sorted(stored) == ["en", "fr", "ru"]
