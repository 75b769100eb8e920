"""Retention limits (audit M9, L11): what is deleted, and when.

- A sign-up never confirmed (no list ever confirmed or left) is deleted, with no hash kept,
  CONFIRM_MAX_AGE + RETENTION_PENDING_GRACE_DAYS after it was last asked for: the address
  may have been typed by someone else, and its link has expired.
- A person with no confirmed list, whose last unsubscribe is RETENTION_UNSUBSCRIBED_DAYS
  old (and with no sign-up still waiting for its confirmation), is erased as if they had
  asked: only the keyed address hash stays (reason "erased"), which keeps imports from
  adding them again; they can sign up again through a fresh double opt-in.
- Inbound bounce mail whose processing failed keeps its raw text (the reader's address and
  the original mail) for RETENTION_FAILED_BOUNCE_DAYS, then only its size and dates.
- Audit events (mailer.audit) are deleted AUDIT_RETENTION_DAYS after they happened.
- Editors' ended sessions, forgotten sign-in failures, sign-in events older than
  RETENTION_LOGIN_EVENT_DAYS and trusted browsers unused for 180 days
  (mailer/accounts/prune.py).
- Deliveries of deleted people are unlinked and lose their error text
  (subscriptions.service.delete_subscriber).

Each step works in batches and commits after each, like the digest batch loop, so that a
large first run holds no long transaction. Every function takes `now`: the clock is the
caller's (tests inject it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, exists, func, select, update

from mailer import audit
from mailer.accounts.prune import prune as prune_sign_in
from mailer.extensions import db
from mailer.models import InboundMessage, Subscriber, Subscription, SubscriptionStatus
from mailer.subscriptions.service import confirm_max_age, delete_subscriber, erase

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass
class RetentionReport:
    signups_deleted: int = 0
    unsubscribed_erased: int = 0
    bounces_purged: int = 0
    audit_events_deleted: int = 0
    sign_in_rows_deleted: int = 0


def _days(setting: str) -> timedelta:
    return timedelta(days=float(current_app.config[setting]))


def _has(*statuses: SubscriptionStatus) -> ColumnElement[bool]:
    return exists().where(
        Subscription.subscriber_id == Subscriber.id, Subscription.status.in_(statuses)
    )


def _asked_before(cutoff: datetime) -> ColumnElement[bool]:
    """The subscriber's last sign-up (or confirmation-mail) request is older than `cutoff`."""
    return func.coalesce(Subscriber.confirm_requested_at, Subscriber.created_at) < cutoff


def _expired_signup(now: datetime) -> list[ColumnElement[bool]]:
    """Never confirmed nor left a list, asked for longer ago than the window and grace."""
    cutoff = now - confirm_max_age() - _days("RETENTION_PENDING_GRACE_DAYS")
    return [
        ~_has(SubscriptionStatus.confirmed, SubscriptionStatus.unsubscribed),
        _asked_before(cutoff),
    ]


def _long_unsubscribed(now: datetime) -> list[ColumnElement[bool]]:
    """On no list, with the last unsubscribe older than RETENTION_UNSUBSCRIBED_DAYS."""
    signup_cutoff = now - confirm_max_age() - _days("RETENTION_PENDING_GRACE_DAYS")
    left_at = (
        select(func.max(func.coalesce(Subscription.unsubscribed_at, Subscription.created_at)))
        .where(
            Subscription.subscriber_id == Subscriber.id,
            Subscription.status == SubscriptionStatus.unsubscribed,
        )
        .scalar_subquery()
    )
    return [
        ~_has(SubscriptionStatus.confirmed),
        ~(_has(SubscriptionStatus.pending) & ~_asked_before(signup_cutoff)),
        left_at < now - _days("RETENTION_UNSUBSCRIBED_DAYS"),
    ]


def expired_signups(now: datetime, limit: int = BATCH) -> list[int]:
    query = select(Subscriber.id).where(*_expired_signup(now))
    return list(db.session.scalars(query.order_by(Subscriber.id).limit(limit)))


def long_unsubscribed(now: datetime, limit: int = BATCH) -> list[int]:
    query = select(Subscriber.id).where(*_long_unsubscribed(now))
    return list(db.session.scalars(query.order_by(Subscriber.id).limit(limit)))


def _still(ids: list[int], rule: list[ColumnElement[bool]]) -> list[Subscriber]:
    """The selected people the rule still holds for, locked: a sign-up renewed or a list
    confirmed since the selection keeps its person (PostgreSQL re-checks a locked row)."""
    query = select(Subscriber).where(Subscriber.id.in_(ids), *rule).with_for_update()
    return list(db.session.scalars(query.order_by(Subscriber.id)))


def delete_expired_signups(ids: list[int], now: datetime) -> int:
    """Delete those of `ids` still expired sign-ups; the caller commits."""
    people = _still(ids, _expired_signup(now))
    for subscriber in people:
        delete_subscriber(subscriber)
    return len(people)


def erase_long_unsubscribed(ids: list[int], now: datetime) -> int:
    """Erase those of `ids` still long unsubscribed (the keyed hash stays); the caller commits."""
    people = _still(ids, _long_unsubscribed(now))
    for subscriber in people:
        erase(subscriber)
    return len(people)


def purge_failed_bounces(now: datetime) -> int:
    """Drop the raw text of inbound mail never processed, after RETENTION_FAILED_BOUNCE_DAYS."""
    result = db.session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.processed_at.is_(None),
            InboundMessage.raw.is_not(None),
            InboundMessage.received_at < now - _days("RETENTION_FAILED_BOUNCE_DAYS"),
        )
        .values(raw=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def apply(now: datetime) -> RetentionReport:
    """Apply every retention limit as of `now`, committing after each batch."""
    report = RetentionReport()
    while ids := expired_signups(now):
        report.signups_deleted += delete_expired_signups(ids, now)
        db.session.commit()
    while ids := long_unsubscribed(now):
        report.unsubscribed_erased += erase_long_unsubscribed(ids, now)
        db.session.commit()
    report.bounces_purged = purge_failed_bounces(now)
    report.sign_in_rows_deleted = prune_sign_in(now)
    db.session.commit()
    report.audit_events_deleted = audit.purge(now)
    db.session.commit()
    return report
