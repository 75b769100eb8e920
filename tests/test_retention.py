"""Retention (audit M9, L11): what the hourly job deletes, with the clock injected as `now`."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from mailer import retention, tasks
from mailer.bounces import service as bounces
from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.privacy import address_hash
from mailer.subscriptions import confirmation, links, service

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def sign_up(app: Flask, email: str, *slugs: str) -> int:
    with app.app_context():
        signup = service.subscribe(email, lists=service.lists_by_slug(slugs or ["weekly"]))
        db.session.commit()
        assert signup.subscriber_id is not None
        return signup.subscriber_id


def confirm(app: Flask, subscriber_id: int) -> None:
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        confirmation.confirm(links.confirm_token(subscriber, service.pending_list_ids(subscriber)))
        db.session.commit()


def unsubscribe(app: Flask, subscriber_id: int, list_slug: str | None = None) -> None:
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        list_id = service.lists_by_slug([list_slug])[0].id if list_slug else None
        service.unsubscribe(links.unsubscribe_token(subscriber, list_id))
        db.session.commit()


def run(app: Flask, now: datetime) -> retention.RetentionReport:
    with app.app_context():
        return retention.apply(now)


def exists(app: Flask, subscriber_id: int) -> bool:
    with app.app_context():
        return db.session.get(Subscriber, subscriber_id) is not None


def suppression(app: Flask, email: str) -> SuppressionReason | None:
    with app.app_context():
        row = db.session.scalar(
            select(Suppression).where(Suppression.address_hash == address_hash(email))
        )
        return row.reason if row is not None else None


def test_a_sign_up_never_confirmed_is_deleted_after_the_window_and_grace(app: Flask) -> None:
    t0 = utcnow()
    stranger = sign_up(app, "typed-by-someone@example.org")
    reader = sign_up(app, "reader@example.org")
    confirm(app, reader)
    deadline = t0 + timedelta(days=7) + timedelta(days=7)  # CONFIRM_MAX_AGE + grace (default)
    assert run(app, deadline - MINUTE).signups_deleted == 0
    assert exists(app, stranger)
    report = run(app, deadline + MINUTE)
    assert report.signups_deleted == 1 and not exists(app, stranger)
    assert exists(app, reader)
    # No hash either: the address was typed by someone else, nobody chose anything.
    assert suppression(app, "typed-by-someone@example.org") is None
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscription.id))) == 1
        assert (
            db.session.scalar(
                select(func.count(ConsentRecord.id)).where(ConsentRecord.subscriber_id == stranger)
            )
            == 0
        )


def test_a_new_request_restarts_the_window(app: Flask) -> None:
    t0 = utcnow()
    subscriber_id = sign_up(app, "slow@example.org")
    with app.app_context():  # they asked for a new link ten days later
        row = db.session.get(Subscriber, subscriber_id)
        assert row is not None
        row.confirm_requested_at = t0 + 10 * DAY
        db.session.commit()
    assert run(app, t0 + 15 * DAY).signups_deleted == 0
    assert run(app, t0 + 25 * DAY).signups_deleted == 1


def test_a_request_renewed_after_the_selection_is_not_deleted(app: Flask) -> None:
    """The job selects a batch, then deletes it: a sign-up renewed in between must survive,
    and so must a person who confirmed in between (the deletion checks the rule again)."""
    t0 = utcnow()
    renewed = sign_up(app, "renewed@example.org")
    confirmed = sign_up(app, "confirmed@example.org")
    with app.app_context():
        ids = retention.expired_signups(t0 + 20 * DAY)
        assert set(ids) == {renewed, confirmed}
        row = db.session.get(Subscriber, renewed)
        assert row is not None
        row.confirm_requested_at = t0 + 19 * DAY
        db.session.commit()
    confirm(app, confirmed)
    with app.app_context():
        assert retention.delete_expired_signups(ids, t0 + 20 * DAY) == 0
        db.session.commit()
    assert exists(app, renewed) and exists(app, confirmed)


def test_someone_who_subscribed_again_after_the_selection_is_not_erased(app: Flask) -> None:
    t0 = utcnow()
    subscriber_id = sign_up(app, "back@example.org")
    confirm(app, subscriber_id)
    unsubscribe(app, subscriber_id)
    with app.app_context():
        ids = retention.long_unsubscribed(t0 + 40 * DAY)
        assert ids == [subscriber_id]
        subscription = db.session.scalar(select(Subscription))
        assert subscription is not None
        subscription.status = SubscriptionStatus.confirmed  # they came back in between
        db.session.commit()
        assert retention.erase_long_unsubscribed(ids, t0 + 40 * DAY) == 0
        db.session.commit()
    assert exists(app, subscriber_id) and suppression(app, "back@example.org") is None


def test_the_grace_period_is_a_setting(app: Flask) -> None:
    app.config["RETENTION_PENDING_GRACE_DAYS"] = 0
    t0 = utcnow()
    subscriber_id = sign_up(app, "pending@example.org")
    assert run(app, t0 + 7 * DAY - MINUTE).signups_deleted == 0
    assert run(app, t0 + 7 * DAY + MINUTE).signups_deleted == 1
    assert not exists(app, subscriber_id)


def test_someone_unsubscribed_for_longer_than_the_limit_keeps_only_the_hash(app: Flask) -> None:
    t0 = utcnow()
    leaver = sign_up(app, "leaver@example.org", "weekly", "alerts")
    partial = sign_up(app, "partial@example.org", "weekly", "alerts")
    for subscriber_id in (leaver, partial):
        confirm(app, subscriber_id)
    unsubscribe(app, leaver)
    unsubscribe(app, partial, "weekly")  # still on "alerts"
    with app.app_context():
        db.session.add(
            Delivery(
                digest_id=1,
                subscriber_id=leaver,
                status=DeliveryStatus.failed,
                smtp_code=452,
                error="SMTPDataError 452 4.2.2: mailbox full",
            )
        )
        db.session.commit()
    assert run(app, t0 + 30 * DAY - MINUTE).unsubscribed_erased == 0
    report = run(app, t0 + 30 * DAY + MINUTE)
    assert report.unsubscribed_erased == 1
    assert not exists(app, leaver) and exists(app, partial)
    assert suppression(app, "leaver@example.org") == SuppressionReason.erased
    with app.app_context():
        delivery = db.session.scalar(select(Delivery))
        assert delivery is not None
        assert (delivery.subscriber_id, delivery.error, delivery.smtp_code) == (None, None, 452)


def test_the_unsubscribed_limit_is_a_setting_and_a_waiting_sign_up_postpones_it(
    app: Flask,
) -> None:
    app.config["RETENTION_UNSUBSCRIBED_DAYS"] = 2
    t0 = utcnow()
    subscriber_id = sign_up(app, "back@example.org", "weekly")
    confirm(app, subscriber_id)
    unsubscribe(app, subscriber_id)
    sign_up(app, "back@example.org", "alerts")  # asks again, does not confirm (yet)
    assert run(app, t0 + 3 * DAY).unsubscribed_erased == 0  # their new link still works
    assert exists(app, subscriber_id)
    assert run(app, t0 + 15 * DAY).unsubscribed_erased == 1
    assert not exists(app, subscriber_id)


def test_after_retention_the_person_can_sign_up_again_through_double_opt_in(
    app: Flask,
) -> None:
    t0 = utcnow()
    subscriber_id = sign_up(app, "again@example.org")
    confirm(app, subscriber_id)
    unsubscribe(app, subscriber_id)
    assert run(app, t0 + 31 * DAY).unsubscribed_erased == 1
    with app.app_context():
        signup = service.subscribe("again@example.org", lists=service.lists_by_slug(["weekly"]))
        assert signup.outcome == service.SignupOutcome.confirmation


def test_raw_bounce_mail_that_failed_processing_is_purged_after_seven_days(app: Flask) -> None:
    t0 = utcnow()
    with app.app_context():
        poison = bounces.store(b"From: x\r\n\r\nunparseable for reader@example.org", [])
        poison.attempts = bounces.MAX_ATTEMPTS
        done = bounces.store(b"Subject: processed\r\n\r\n", [])
        done.processed_at, done.raw = t0, None
        db.session.commit()
        poison_id = poison.id
    assert run(app, t0 + 7 * DAY - MINUTE).bounces_purged == 0
    assert run(app, t0 + 7 * DAY + MINUTE).bounces_purged == 1
    with app.app_context():
        row = db.session.get(InboundMessage, poison_id)
        assert row is not None and row.raw is None and row.size > 0  # size and dates stay
        assert row.id not in bounces.unprocessed(timedelta(0))


def test_the_hourly_beat_job_runs_it(app: Flask) -> None:
    schedule = app.extensions["celery"].conf.beat_schedule
    assert {"task": "mailer.apply_retention", "schedule": 3600.0}.items() <= (
        schedule["apply-retention"].items()
    )
    sign_up(app, "fresh@example.org")
    with app.app_context():
        assert tasks.apply_retention() == 0  # nothing is old yet
        assert db.session.scalar(select(func.count(Subscriber.id))) == 1
