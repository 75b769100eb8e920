"""Control characters in bounce mail and webhooks are dropped, not stored.

A mail server or webhook can put a NUL in a diagnostic or an envelope address; PostgreSQL
refuses NUL in text, so the bounce (and the suppression it should bring) was lost with an
error, the inbound message retried forever. Run with TEST_DATABASE_URL to see PostgreSQL's
refusal; on SQLite the characters were stored as they came.
"""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.bounces import service
from mailer.controls import has_control_characters
from mailer.extensions import db
from mailer.models import BounceEvent, BounceKind, InboundMessage, SuppressionReason
from mailer.redaction import smtp_error_text
from tests.bounce_helpers import bounce, sent_digest, suppression
from tests.test_webhooks import MAILGUN_URL, READER, mailgun, mailgun_failed

DIRT = "\x00\x07\x1b[2J\x7f\x9b"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    from tests.test_webhooks import MAILGUN_KEY

    return {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


def stored(app: Flask) -> list[tuple[BounceKind, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(BounceEvent).order_by(BounceEvent.id))
        return [(row.kind, row.diagnostic) for row in rows]


def test_a_bounce_mail_with_control_characters_is_recorded_clean(app: Flask) -> None:
    verps = sent_digest(app)
    raw = bounce("postfix_hard.eml", verps[READER], READER)
    # A NUL inside another address: still redacted once the NUL is gone.
    dirty = f"Recipient{DIRT} address rejected (for wit\x00ness@example.net)"
    raw = raw.replace(b"Recipient address rejected", dirty.encode())
    with app.app_context():
        event = service.record(raw, [verps[READER], f"postmaster{DIRT}@example.org"])
        db.session.commit()
        assert event is not None
        inbound = db.session.scalar(select(InboundMessage))
        assert inbound is not None and not has_control_characters(
            inbound.envelope_to, multiline=True
        )
    [(kind, diagnostic)] = stored(app)
    assert kind == BounceKind.hard and diagnostic and "address rejected" in diagnostic
    assert not has_control_characters(diagnostic)
    assert "witness" not in diagnostic and "example.net" not in diagnostic
    assert suppression(app, READER) == SuppressionReason.hard_bounce


def test_a_webhook_with_control_characters_is_recorded_clean(
    app: Flask, client: FlaskClient
) -> None:
    verps = sent_digest(app)
    event = mailgun_failed(verps[READER])
    event["delivery-status"]["message"] = f"No such{DIRT} mailbox"
    response = client.post(MAILGUN_URL, json=mailgun(event))
    assert response.status_code == 200
    [(kind, diagnostic)] = stored(app)
    assert kind == BounceKind.hard and diagnostic and "mailbox" in diagnostic
    assert not has_control_characters(diagnostic)
    assert suppression(app, READER) == SuppressionReason.hard_bounce


def test_whitespace_controls_keep_words_apart_so_the_local_part_is_scrubbed(app: Flask) -> None:
    # A vertical tab, form feed or \x1c-\x1f between words is a space: deleted instead, it
    # would glue the subscriber's local part to its neighbours, out of the scrub's reach.
    verps = sent_digest(app)
    raw = bounce("postfix_hard.eml", verps[READER], READER)
    glued = "Recipient\x0breader1\x0caddress\x1frejected"
    raw = raw.replace(b"Recipient address rejected", glued.encode())
    with app.app_context():
        assert service.record(raw, [verps[READER]]) is not None
        db.session.commit()
    [(_kind, diagnostic)] = stored(app)
    assert diagnostic and "Recipient [local-part] address rejected" in diagnostic
    assert "reader1" not in diagnostic


def test_a_servers_refusal_with_control_characters_is_stored_as_one_clean_line() -> None:
    # Delivery.error: a NUL in an SMTP reply would fail the row's update on PostgreSQL.
    address = "amina.k@example.org"
    reply = f"5.1.1 <{address}>\x00 no such\x0buser\x1b[0m amina.k".encode()
    refused = smtplib.SMTPRecipientsRefused({address: (550, reply)})
    text = smtp_error_text(refused, address)
    assert not has_control_characters(text)
    assert "no such user" in text and "amina" not in text
