"""The delivery engine, called directly against a real SMTP server on loopback."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mailer.digests import control, lifecycle, outbox, record, sending, service
from mailer.extensions import db
from mailer.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.privacy import address_hash
from mailer.verp import delivery_from_verp
from tests.conftest import SmtpServer


def add_subscribers(
    app: Flask, n: int, status: SubscriptionStatus = SubscriptionStatus.confirmed, start: int = 0
) -> list[int]:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        ids = []
        for i in range(start, start + n):
            email = f"reader{i}@example.org"
            subscriber = Subscriber(email=email, address_hash=address_hash(email), name=f"R{i}")
            subscriber.subscriptions.append(Subscription(mailing_list=weekly, status=status))
            db.session.add(subscriber)
            db.session.flush()
            ids.append(subscriber.id)
        db.session.commit()
        return ids


def make_digest(app: Flask) -> int:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        article = Article(
            guid="a1",
            link="https://news.example.org/a1",
            title="A poet walks free",
            summary="Released after two years.",
            published_at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        digest = service.create_digest(weekly, [article], subject="This week")
        db.session.commit()
        return digest.id


def start(app: Flask, digest_id: int) -> int | None:
    with app.app_context():
        count = outbox.start(digest_id)
        db.session.commit()
        return count


def send_all(app: Flask, digest_id: int, size: int = 1000) -> sending.BatchResult:
    total = sending.BatchResult()
    with app.app_context():
        for lo, hi in outbox.batch_ranges(digest_id, size):
            r = sending.send_batch(digest_id, lo, hi)
            total.sent += r.sent
            total.failed += r.failed
            total.deferred += r.deferred
            total.skipped += r.skipped
    return total


def statuses(app: Flask, digest_id: int) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.digest_id == digest_id)
            .group_by(Delivery.status)
        ).all()
        return {status.value: int(n) for status, n in rows}


def digest_status(app: Flask, digest_id: int) -> DigestStatus:
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        return digest.status


def test_fan_out_is_one_set_based_insert_of_confirmed_unsuppressed_subscribers(
    app: Flask,
) -> None:
    add_subscribers(app, 5)
    add_subscribers(app, 2, SubscriptionStatus.pending, start=10)
    add_subscribers(app, 1, SubscriptionStatus.unsubscribed, start=20)
    with app.app_context():
        db.session.add(
            Suppression(
                address_hash=address_hash("reader3@example.org"),
                reason=SuppressionReason.hard_bounce,
            )
        )
        db.session.commit()
    digest_id = make_digest(app)
    assert start(app, digest_id) == 4
    assert start(app, digest_id) is None  # claimed once
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.status == DigestStatus.sending
        assert digest.rendered_html and "A poet walks free" in digest.rendered_html
        again = outbox.fan_out(digest_id, digest.list_id, utcnow())
        db.session.commit()
        assert again == 0  # a repeated fan-out adds nothing
    assert statuses(app, digest_id) == {"pending": 4}


def test_batches_cover_every_delivery_once(app: Flask) -> None:
    add_subscribers(app, 23)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        ranges = outbox.batch_ranges(digest_id, 5)
        ids = db.session.scalars(
            select(Delivery.id).where(Delivery.digest_id == digest_id).order_by(Delivery.id)
        ).all()
    assert len(ranges) == 5
    covered = [i for i in ids if any(lo <= i <= hi for lo, hi in ranges)]
    assert covered == list(ids)
    assert all(sum(1 for i in ids if lo <= i <= hi) <= 5 for lo, hi in ranges), (
        "no batch is bigger than asked"
    )


def test_send_delivers_each_recipient_exactly_once_with_list_headers(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 12)
    digest_id = make_digest(app)
    start(app, digest_id)
    result = send_all(app, digest_id, size=5)
    assert result.sent == 12
    received = smtp_server.wait_for(12)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        f"reader{i}@example.org" for i in range(12)
    )
    assert statuses(app, digest_id) == {"sent": 12}
    assert digest_status(app, digest_id) == DigestStatus.sent
    # A second run (a retried task) sends nothing more.
    assert send_all(app, digest_id).sent == 0
    assert len(smtp_server.received) == 12

    message = received[0].message
    assert message["Subject"] == "This week"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://localhost/unsubscribe/")
    assert message["List-Id"].endswith("<weekly.example.org>")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    assert text is not None and "A poet walks free" in text.get_content()
    # The envelope sender names the delivery, signed.
    with app.app_context():
        delivery_id = delivery_from_verp(received[0].mail_from)
        assert delivery_id is not None
        delivery = db.session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.subscriber_id is not None
        subscriber = db.session.get(Subscriber, delivery.subscriber_id)
        assert subscriber is not None and subscriber.email == received[0].rcpt_tos[0]
        forged = received[0].mail_from.replace(f"+{delivery_id}.", f"+{delivery_id + 1}.")
        assert delivery_from_verp(forged) is None


def test_permanent_failure_is_recorded_and_transient_one_retried_later(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)

    def reply(envelope: object) -> str | None:
        rcpt = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        if rcpt == "reader0@example.org":
            return "550 5.1.1 No such user"
        if rcpt == "reader1@example.org":
            return "451 4.3.0 Try again later"
        return None

    smtp_server.handler.reply = reply
    result = send_all(app, digest_id)
    # reader1's 451 is about the server: it goes on hold and reader2 waits, not charged.
    assert (result.sent, result.failed, result.deferred) == (0, 1, 2)
    with app.app_context():
        failed = db.session.scalar(select(Delivery).where(Delivery.status == DeliveryStatus.failed))
        assert (
            failed is not None
            and failed.smtp_code == 550
            and "No such user" in (failed.error or "")
        )
        deferred = db.session.scalars(
            select(Delivery).where(Delivery.status == DeliveryStatus.pending).order_by(Delivery.id)
        ).all()
        assert [d.attempts for d in deferred] == [1, 0]
        assert all(d.next_attempt_at is not None and d.next_attempt_at > utcnow() for d in deferred)
        assert deferred[0].smtp_code == 451 and deferred[1].smtp_code is None
    assert digest_status(app, digest_id) == DigestStatus.sending
    # Before its back-off ends nothing happens; after it, the server has recovered.
    assert send_all(app, digest_id).sent == 0
    smtp_server.handler.reply = None
    due_now(app)
    assert send_all(app, digest_id).sent == 2
    assert statuses(app, digest_id) == {"sent": 2, "failed": 1}
    assert digest_status(app, digest_id) == DigestStatus.sent
    rcpts = [r.rcpt_tos[0] for r in smtp_server.received]
    assert rcpts.count("reader1@example.org") == 1 and "reader0@example.org" not in rcpts


def due_now(app: Flask) -> None:
    """Every deferred delivery due, every server's hold over (as if their time had come)."""
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        client = app.extensions["redis"]
        for key in client.scan_iter("mailer:backoff:*"):
            client.delete(key)


def test_a_worker_that_died_mid_batch_leaves_rows_the_reaper_frees(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 4)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        # A worker claimed every row, sent and recorded one, then died.
        ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        db.session.execute(
            update(Delivery).values(
                status=DeliveryStatus.sending,
                lease_owner="dead-worker",
                lease_expires_at=utcnow() + timedelta(minutes=5),
            )
        )
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == ids[0])
            .values(status=DeliveryStatus.sent, lease_owner=None)
        )
        db.session.commit()
    # While the lease lives, nobody else sends those rows.
    assert send_all(app, digest_id).sent == 0
    with app.app_context():
        stalled = control.reap(utcnow() + timedelta(minutes=6))
        assert stalled == [digest_id]
    assert send_all(app, digest_id).sent == 3
    rcpts = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert rcpts == [f"reader{i}@example.org" for i in (1, 2, 3)]
    assert digest_status(app, digest_id) == DigestStatus.sent


def test_subscribers_who_leave_after_the_fan_out_are_skipped(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    ids = add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        db.session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == ids[0])
            .values(status=SubscriptionStatus.unsubscribed)
        )
        gone = db.session.get(Subscriber, ids[1])
        db.session.delete(gone)
        db.session.commit()
    result = send_all(app, digest_id)
    assert (result.sent, result.skipped) == (1, 2)
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["reader2@example.org"]


def test_pause_resume_cancel(app: Flask, smtp_server: SmtpServer) -> None:
    smtp_server.clear()
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        lifecycle.pause(digest_id)
        db.session.commit()
    assert send_all(app, digest_id).sent == 0
    with app.app_context():
        with pytest.raises(lifecycle.NotSendable):
            lifecycle.pause(digest_id)
        lifecycle.resume(digest_id)
        db.session.commit()
        lo, hi = outbox.batch_ranges(digest_id, 1)[0]
        assert sending.send_batch(digest_id, lo, hi).sent == 1
        assert lifecycle.cancel(digest_id) == 2
        db.session.commit()
        p = control.progress(digest_id)
        assert (p.sent, p.skipped, p.remaining) == (1, 2, 0)
    assert digest_status(app, digest_id) == DigestStatus.cancelled
    assert len(smtp_server.received) == 1


def test_a_list_without_subscribers_is_sent_at_once(app: Flask) -> None:
    digest_id = make_digest(app)
    assert start(app, digest_id) == 0
    assert digest_status(app, digest_id) == DigestStatus.sent


def test_digest_messages_are_dkim_signed_when_configured(
    app: Flask, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    import dkim

    from tests.test_dkim import DOMAIN, SELECTOR, rsa_key

    pem, dnsfunc = rsa_key(1024)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    app.config.update(
        DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN, DKIM_PRIVATE_KEY_PATH=str(key_file)
    )
    smtp_server.clear()
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    assert send_all(app, digest_id).sent == 2
    for received in smtp_server.wait_for(2):
        assert received.raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(received.raw, dnsfunc=dnsfunc)
        signed = received.message["DKIM-Signature"]
        assert "list-unsubscribe" in signed.lower() and "list-unsubscribe-post" in signed.lower()


def test_erasing_a_subscriber_unlinks_their_deliveries_and_keeps_the_counts(
    app: Flask, smtp_server: SmtpServer
) -> None:
    from mailer.subscriptions.service import erase

    smtp_server.clear()
    ids = add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    send_all(app, digest_id)
    with app.app_context():
        subscriber = db.session.get(Subscriber, ids[0])
        assert subscriber is not None
        erase(subscriber)
        db.session.commit()
        linked = db.session.scalars(
            select(Delivery.subscriber_id).where(Delivery.digest_id == digest_id)
        ).all()
        assert sorted(linked, key=lambda v: v or 0) == [None, ids[1]]
        assert control.progress(digest_id).sent == 2


def cancel_at_first_message(app: Flask, digest_id: int) -> Callable[[int], None]:
    def cancel_once(delivery_id: int) -> None:
        if digest_status(app, digest_id) == DigestStatus.sending:
            lifecycle.cancel(digest_id)
            db.session.commit()

    return cancel_once


def test_cancelling_mid_batch_leaves_no_delivery_open(
    app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loop's clock stands still, so only the message count decides when it looks: a busy
    # machine cannot make the half-second check fire first (it once did, after 37 messages).
    monkeypatch.setattr(sending, "clock", lambda: 0.0)
    smtp_server.clear()
    add_subscribers(app, sending.CHECK_EVERY + 10)
    digest_id = make_digest(app)
    start(app, digest_id)

    with app.app_context():
        ((lo, hi),) = outbox.batch_ranges(digest_id, 1000)
        result = sending.send_batch(
            digest_id, lo, hi, on_sent=cancel_at_first_message(app, digest_id)
        )
        assert result.sent == sending.CHECK_EVERY  # it noticed at its next check
        p = control.progress(digest_id)
        assert (p.remaining, p.sent, p.skipped) == (0, sending.CHECK_EVERY, 10)
    assert digest_status(app, digest_id) == DigestStatus.cancelled
    assert len(smtp_server.received) == sending.CHECK_EVERY


def test_a_slow_batch_looks_at_the_digest_by_the_clock_too(
    app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each look at the clock is a second later: at a low SEND_RATE the loop must not wait for
    # CHECK_EVERY messages before it sees a cancel.
    ticks = itertools.count()
    monkeypatch.setattr(sending, "clock", lambda: float(next(ticks)))
    smtp_server.clear()
    add_subscribers(app, 10)
    digest_id = make_digest(app)
    start(app, digest_id)

    with app.app_context():
        ((lo, hi),) = outbox.batch_ranges(digest_id, 1000)
        result = sending.send_batch(
            digest_id, lo, hi, on_sent=cancel_at_first_message(app, digest_id)
        )
        assert result.sent == 1
        p = control.progress(digest_id)
        assert (p.remaining, p.sent, p.skipped) == (0, 1, 9)


def test_expired_leases_of_a_cancelled_digest_end_skipped(app: Flask) -> None:
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        db.session.execute(
            update(Delivery).values(
                status=DeliveryStatus.sending, lease_owner="dead", lease_expires_at=utcnow()
            )
        )
        lifecycle.cancel(digest_id)
        db.session.commit()
        assert control.reap(utcnow() + timedelta(seconds=1)) == []
        assert control.progress(digest_id).skipped == 2


def leased_deliveries(app: Flask, n: int, owner: str) -> list[int]:
    """A started digest to n readers whose deliveries `owner` holds (status sending)."""
    add_subscribers(app, n)
    start(app, make_digest(app))
    with app.app_context():
        db.session.execute(update(Delivery).values(status="sending", lease_owner=owner))
        db.session.commit()
        return list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))


def test_the_record_of_a_sent_message_commits_at_once_and_leaves_the_pool_as_it_was(
    app: Flask,
) -> None:
    first, second = leased_deliveries(app, 2, owner="me")
    with app.app_context():
        with record.recorder().open() as mark_sent:
            mark_sent(first, "me", 1)
            mark_sent(second, "someone else", 1)  # a lease we no longer hold: not recorded
            # Committed already: another connection sees it while the batch goes on.
            with db.engine.connect() as other:
                rows = other.execute(select(Delivery.id, Delivery.status, Delivery.sent_at))
                seen = {row.id: (row.status, row.sent_at) for row in rows}
        assert seen[first][0] == DeliveryStatus.sent and seen[first][1] is not None
        assert seen[second] == (DeliveryStatus.sending, None)
        # Every pooled connection is transactional again: a rollback undoes a write.
        for _ in range(3):
            with db.engine.connect() as conn:
                conn.execute(update(Delivery).values(attempts=9))
                conn.rollback()
        assert set(db.session.scalars(select(Delivery.attempts))) == {0, 1}


def test_the_database_refuses_a_second_delivery_of_a_digest_to_a_subscriber(app: Flask) -> None:
    (reader,) = add_subscribers(app, 1)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        db.session.add(Delivery(digest_id=digest_id, subscriber_id=reader, status="pending"))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert control.progress(digest_id).total == 1


def test_records_may_skip_waiting_for_the_disk_and_the_pool_gets_the_setting_back(
    app: Flask,
) -> None:
    (delivery_id,) = leased_deliveries(app, 1, owner="me")
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        setting = "SHOW synchronous_commit" if postgres else "PRAGMA synchronous"
        with record.recorder().open(sync=False) as mark_sent:
            relaxed = mark_sent.cursor.execute(setting).fetchone()[0]
            mark_sent(delivery_id, "me", 1)
        with db.engine.connect() as other:  # committed, and visible to everyone
            assert other.scalar(select(Delivery.status)) == DeliveryStatus.sent
        # PostgreSQL: off for the records only; SQLite keeps its WAL setting (1 = NORMAL).
        assert relaxed == ("off" if postgres else 1)
        for _ in range(3):
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql(setting).scalar() == ("on" if postgres else 1)


def test_the_reaper_leaves_rows_whose_retry_is_just_due_to_their_scheduled_task(
    app: Flask,
) -> None:
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    now = utcnow()
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt_at=now - timedelta(seconds=30)))
        db.session.commit()
        assert control.reap(now) == []  # the retry task is about to run: no second chain
        db.session.execute(update(Delivery).values(next_attempt_at=now - timedelta(minutes=3)))
        db.session.commit()
        assert control.reap(now) == [digest_id]  # overdue: its task was lost
