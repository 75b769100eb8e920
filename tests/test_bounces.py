"""Bounce parsing, attribution by signed VERP token, and the suppression policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from mailer import tasks
from mailer.bounces import service
from mailer.bounces.parse import parse
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    BounceKind,
    InboundMessage,
    Subscriber,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from mailer.subscriptions.service import erase, lists_by_slug, subscribe
from tests.bounce_helpers import HARD, bounce, sent_digest, suppression
from tests.conftest import SmtpServer

READER = "reader1@example.org"


def record(app: Flask, raw: bytes, envelope_to: list[str]) -> BounceEvent | None:
    with app.app_context():
        event = service.record(raw, envelope_to)
        db.session.commit()
        if event is not None:
            db.session.refresh(event)
            db.session.expunge(event)
        return event


def events(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(BounceEvent.id))) or 0)


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("postfix_hard.eml", BounceKind.hard, "5.1.1"),
        ("exim_hard.eml", BounceKind.hard, "5.1.1"),
        ("gmail_hard.eml", BounceKind.hard, "5.1.1"),
        ("microsoft_hard.eml", BounceKind.hard, "5.1.10"),
        ("postfix_soft.eml", BounceKind.soft, "4.2.2"),
        ("arf_complaint.eml", BounceKind.complaint, None),
        ("auto_reply.eml", BounceKind.auto_reply, None),
        ("malformed.eml", BounceKind.unknown, None),
    ],
)
def test_formats_are_classified_and_diagnostics_carry_no_address(
    app: Flask, name: str, kind: BounceKind, status: str | None
) -> None:
    with app.app_context():
        parsed = parse(bounce(name, "newsletter+1.abcdefabcdef@example.org", READER), [])
    assert (parsed.kind, parsed.status) == (kind, status)
    assert READER not in (parsed.diagnostic or "")
    assert len(parsed.diagnostic or "") <= 500


@pytest.mark.parametrize("name", HARD)
def test_a_hard_bounce_suppresses_the_delivery_s_address_at_once(app: Flask, name: str) -> None:
    verps = sent_digest(app)
    event = record(app, bounce(name, verps[READER], READER), [verps[READER]])
    assert event is not None and event.kind == BounceKind.hard and event.attributed
    assert event.delivery_id is not None and event.digest_id is not None
    assert suppression(app, READER) == SuppressionReason.hard_bounce
    assert suppression(app, "reader0@example.org") is None
    with app.app_context():
        subscriber = db.session.get(Subscriber, event.subscriber_id)
        assert subscriber is not None and subscriber.email == READER
        # Suppression alone stops the mail; the subscriptions stay as they were.
        assert [s.status for s in subscriber.subscriptions] == [SubscriptionStatus.confirmed]
        inbound = db.session.get(InboundMessage, event.inbound_id)
        assert inbound is not None and inbound.processed_at is not None and inbound.raw is None


def test_soft_bounces_suppress_after_the_limit_within_the_window(app: Flask) -> None:
    verps = sent_digest(app)
    verp = verps[READER]
    old = record(app, bounce("postfix_soft.eml", verp, READER, "s0"), [verp])
    assert old is not None
    with app.app_context():  # one soft bounce long ago: outside the 30-day window
        db.session.execute(
            update(BounceEvent)
            .where(BounceEvent.id == old.id)
            .values(received_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()
    for n in (1, 2):
        assert record(app, bounce("postfix_soft.eml", verp, READER, f"s{n}"), [verp]) is not None
        assert suppression(app, READER) is None
    record(app, bounce("postfix_soft.eml", verp, READER, "s3"), [verp])
    assert suppression(app, READER) == SuppressionReason.soft_bounce


def test_a_complaint_unsubscribes_from_every_list_and_suppresses(app: Flask) -> None:
    verps = sent_digest(app)
    # Feedback loops mail a fixed address: the original's Return-Path carries the token.
    event = record(app, bounce("arf_complaint.eml", verps[READER], READER), ["fbl@example.org"])
    assert event is not None and event.kind == BounceKind.complaint and event.attributed
    assert suppression(app, READER) == SuppressionReason.complaint
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == READER))
        assert subscriber is not None
        assert {s.status for s in subscriber.subscriptions} == {SubscriptionStatus.unsubscribed}


def test_auto_replies_and_delays_are_recorded_and_change_nothing(app: Flask) -> None:
    verps = sent_digest(app)
    event = record(app, bounce("auto_reply.eml", verps[READER], READER), [verps[READER]])
    assert event is not None and event.kind == BounceKind.auto_reply
    assert suppression(app, READER) is None


def test_a_forged_or_missing_token_is_counted_unattributed_and_changes_nothing(
    app: Flask,
) -> None:
    verps = sent_digest(app)
    real = verps[READER]
    forged = real.replace(real.split("+")[1].split(".")[1][:12], "000000000000")
    event = record(app, bounce("postfix_hard.eml", forged, READER), [forged])
    assert event is not None and not event.attributed and event.delivery_id is None
    # No token at all: the DSN's Final-Recipient names a subscriber, and is not trusted.
    plain = "newsletter@example.org"
    event = record(app, bounce("gmail_hard.eml", plain, READER), [plain])
    assert event is not None and not event.attributed and event.subscriber_id is None
    assert suppression(app, READER) is None


def test_the_same_bounce_delivered_twice_is_recorded_once(app: Flask) -> None:
    verps = sent_digest(app)
    raw = bounce("gmail_hard.eml", verps[READER], READER)
    assert record(app, raw, [verps[READER]]) is not None
    assert (
        record(
            app, raw.replace(b"Delivered-To:", b"X-Seen: again\r\nDelivered-To:"), [verps[READER]]
        )
        is None
    )
    assert events(app) == 1
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
            == 0
        )


def test_a_bounce_for_an_erased_subscriber_is_stored_and_breaks_nothing(app: Flask) -> None:
    verps = sent_digest(app)
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == READER))
        assert subscriber is not None
        erase(subscriber)
        db.session.commit()
    event = record(app, bounce("postfix_hard.eml", verps[READER], READER), [verps[READER]])
    assert event is not None and event.attributed and event.subscriber_id is None
    assert event.digest_id is not None
    assert suppression(app, READER) == SuppressionReason.erased


def test_confirmation_mail_carries_a_signed_token_and_a_bounce_stops_the_next_one(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    email = "new@example.org"
    with app.app_context():
        signup = subscribe(email, lists=lists_by_slug(["weekly"]))
        db.session.commit()
        assert signup.subscriber_id is not None
        tasks.send_confirmation(signup.subscriber_id)
    verp = smtp_server.wait_for(1)[0].mail_from
    assert verp.startswith("newsletter+c")
    event = record(app, bounce("exim_hard.eml", verp, email), [verp])
    assert event is not None and event.attributed and event.subscriber_id == signup.subscriber_id
    assert suppression(app, email) == SuppressionReason.hard_bounce
    smtp_server.clear()
    with app.app_context():
        tasks.send_confirmation(signup.subscriber_id)
    assert smtp_server.received == []


def test_the_sweeper_processes_what_was_stored_but_not_processed(app: Flask) -> None:
    verps = sent_digest(app)
    with app.app_context():
        inbound = service.store(bounce("postfix_hard.eml", verps[READER], READER), [verps[READER]])
        inbound.received_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert tasks.process_bounces() == 1
        assert tasks.process_bounces() == 0
    assert suppression(app, READER) == SuppressionReason.hard_bounce
