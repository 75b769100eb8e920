"""SMTP failures are stored and logged by code, enhanced status and ids, never the address (M5, M6).

A real SMTP server (aiosmtpd on loopback) refuses the message with a reply that repeats the
recipient, as Postfix does.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select, text

from mailer.bounces import service as bounces
from mailer.extensions import db
from mailer.models import BounceEvent, BounceKind, Delivery, DeliveryStatus, Subscriber
from mailer.subscriptions import service
from mailer.tasks import send_confirmation
from tests.address_strategies import leaks
from tests.bounce_helpers import bounce, sent_digest
from tests.conftest import SmtpServer
from tests.test_sending import add_subscribers, make_digest, send_all, start

ECHO = "550 5.1.1 <{}>: Recipient address rejected: User unknown ({} mailbox)"


def refuse_with_echo(smtp_server: SmtpServer) -> None:
    def reply(envelope: object) -> str:
        rcpt = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        return ECHO.format(rcpt, rcpt.partition("@")[0])

    smtp_server.handler.reply = reply


def test_a_refused_delivery_keeps_code_and_status_not_the_address(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 1, start=7)  # reader7@example.org
    refuse_with_echo(smtp_server)
    digest_id = make_digest(app)
    start(app, digest_id)
    assert send_all(app, digest_id).failed == 1
    with app.app_context():
        row = db.session.scalar(select(Delivery))
        assert row is not None and row.status == DeliveryStatus.failed
        assert row.smtp_code == 550
        assert row.error is not None and row.error.startswith("SMTPDataError 550 5.1.1: ")
        assert "Recipient address rejected" in row.error
        assert leaks(row.error, "reader7@example.org") == [] and "reader7" not in row.error
        subscriber = db.session.get(Subscriber, row.subscriber_id)
        assert subscriber is not None
        service.erase(subscriber)
        db.session.commit()
        db.session.expire_all()
        row = db.session.get(Delivery, row.id)
        assert row is not None and (row.subscriber_id, row.error) == (None, None)
        assert row.smtp_code == 550  # the count of what failed, and why, stays


def test_a_refused_confirmation_is_logged_by_code_and_ids_only(
    app: Flask, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    address = "journalist@example.org"
    with app.app_context():
        signup = service.subscribe(address, lists=service.lists_by_slug(["weekly"]))
        db.session.commit()
    smtp_server.clear()
    refuse_with_echo(smtp_server)
    caplog.set_level(logging.INFO)
    with app.app_context():
        send_confirmation(signup.subscriber_id)
    line = next(r for r in caplog.records if "failed" in r.getMessage())
    assert line.getMessage() == (
        f"confirmation mail for subscriber {signup.subscriber_id} failed: SMTPDataError 550 5.1.1"
    )
    for record in caplog.records:  # not even in the arguments a handler might format itself
        if record.name.startswith("mailer"):
            assert "journalist" not in f"{record.msg} {record.args!r}"


def test_a_transient_refusal_retries_with_a_sanitized_error(
    app: Flask, smtp_server: SmtpServer
) -> None:
    with app.app_context():
        signup = service.subscribe(
            "journalist@example.org", lists=service.lists_by_slug(["weekly"])
        )
        db.session.commit()
    smtp_server.clear()
    smtp_server.handler.reply = lambda envelope: f"451 4.2.2 <{envelope.rcpt_tos[0]}> is over quota"
    # Called directly, Celery raises the exception the task retries with: the one a worker logs.
    with app.app_context(), pytest.raises(Exception) as raised:
        send_confirmation(signup.subscriber_id)
    assert getattr(raised.value, "smtp_code", None) == 451
    assert "journalist" not in repr(raised.value) and "4.2.2" in repr(raised.value)


def test_the_migration_scrubs_error_texts_and_diagnostics(app: Flask) -> None:
    address = "Журналист@пример.рф"
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO subscriber (id, uid, email, language, created_at) "
                    "VALUES (1, 'u1', 'jo.kim@example.org', 'en', CURRENT_TIMESTAMP)"
                )
            )
            for i, sub, err in [
                (1, 1, "{'jo.kim@example.org': (550, b'5.1.1 <jo.kim>... User unknown')}"),
                (2, None, "{'gone@example.org': (550, b'5.1.1 mailbox unavailable')}"),
                (3, 2, f"(550, b'5.1.1 <{address}>: rejected')"),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO delivery (id, digest_id, subscriber_id, status, attempts,"
                        " smtp_code, error, created_at) VALUES (:i, 1, :s, 'failed', 1, 550, :e,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"i": i, "s": sub, "e": err},
                )
            conn.execute(
                text(
                    "INSERT INTO bounce_event (id, message_hash, kind, attributed, diagnostic,"
                    " received_at, created_at) VALUES (1, 'h', 'hard', false, :d,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"d": f"550 5.1.1 <{address}> unknown"},
            )
        upgrade()
        errors = dict(db.session.execute(select(Delivery.id, Delivery.error)).all())
        assert errors[2] is None  # the row of an erased subscriber: no text at all
        assert "jo.kim" not in errors[1] and "550" in errors[1]
        assert leaks(errors[3], address) == [] and "rejected" in errors[3]
        event = db.session.scalar(select(BounceEvent))
        assert event is not None and event.kind == BounceKind.hard
        assert event.diagnostic == "550 5.1.1 <[address]> unknown"
        db.session.remove()


def test_a_bounce_diagnostic_loses_the_local_part_and_erase_drops_it(app: Flask) -> None:
    verps = sent_digest(app, n=1)  # reader0@example.org
    reader, verp = next(iter(verps.items()))
    # An MTA that names the mailbox alone: no pattern can tell it is an address.
    raw = bounce("postfix_hard.eml", verp, "reader0")
    with app.app_context():
        event = bounces.record(raw, [verp])
        db.session.commit()
        assert event is not None and event.attributed and event.status == "5.1.1"
        assert event.diagnostic is not None and "reader0" not in event.diagnostic
        assert "<[local-part]>" in event.diagnostic
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == reader))
        assert subscriber is not None
        service.erase(subscriber)
        db.session.commit()
        event = db.session.scalar(select(BounceEvent))
        assert event is not None
        assert (event.subscriber_id, event.diagnostic, event.status) == (None, None, "5.1.1")
