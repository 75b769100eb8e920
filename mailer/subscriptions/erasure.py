"""The suppression list and erasure: who is never mailed again, and deleting a subscriber."""

from __future__ import annotations

from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import BounceEvent, Delivery, Subscriber, Suppression, SuppressionReason
from mailer.privacy import address_hash


def suppression_reason(email: str) -> SuppressionReason | None:
    """Why a normalised address is on the suppression list, or None."""
    digest = address_hash(email)
    return db.session.scalar(select(Suppression.reason).where(Suppression.address_hash == digest))


def is_suppressed(email: str) -> bool:
    return suppression_reason(email) is not None


def may_confirm(email: str) -> bool:
    """Whether a confirmation mail may go to the address: not suppressed, or only as erased.

    An erased reader may come back through a fresh double opt-in (confirming lifts the
    `erased` suppression); bounces, complaints and manual suppressions stay.
    """
    return suppression_reason(email) in (None, SuppressionReason.erased)


def suppress(email: str, reason: SuppressionReason) -> None:
    """Put a normalised address on the suppression list (idempotent)."""
    digest = address_hash(email)
    exists = db.session.scalar(select(Suppression.id).where(Suppression.address_hash == digest))
    if exists is None:
        db.session.add(Suppression(address_hash=digest, reason=reason))
        db.session.flush()


def erase(subscriber: Subscriber) -> None:
    """Delete the subscriber and everything about them; keep only the suppression hash."""
    suppress(subscriber.email, SuppressionReason.erased)
    delete_subscriber(subscriber)


def delete_subscriber(subscriber: Subscriber) -> None:
    """Delete the subscriber, their subscriptions and consent records, keeping no hash.

    Deliveries keep no foreign key (see models.delivery): they are unlinked here, and lose
    the server's reply text, which may have named the address (audit M6); the code stays.
    Bounce events keep kind and status, not their diagnostic text; the database unlinks them.
    """
    db.session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber.id)
        .values(subscriber_id=None, error=None)
    )
    db.session.execute(
        update(BounceEvent)
        .where(BounceEvent.subscriber_id == subscriber.id)
        .values(diagnostic=None)
    )
    db.session.delete(subscriber)
    db.session.flush()
