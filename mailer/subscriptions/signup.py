"""Sign-up: record a request for an address and decide which mail (if any) it gets.

The hot path of a sign-up burst (README, "Sign-up under a burst"): Core statements built once,
on the session's connection. Services flush; callers commit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite

from mailer import clock
from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.privacy import address_hash, ip_hash
from mailer.subscriptions import address_cap


class SignupOutcome(enum.Enum):
    confirmation = "confirmation"  # send a confirmation mail
    already_subscribed = "already_subscribed"  # send "manage your preferences"
    nothing = "nothing"  # suppressed, or held back by the per-address cap: send and change nothing


@dataclass(frozen=True)
class Signup:
    outcome: SignupOutcome
    subscriber_id: int | None
    address_hash: str


def subscribe(
    email: str,
    *,
    lists: Sequence[MailingList],
    name: str | None = None,
    language: str = "en",
    source: str = "form",
    ip: str | None = None,
) -> Signup:
    """Record a sign-up request for a normalised address; decide which mail (if any) it gets.

    Whoever submits the form may not own the address, so it changes no subscriber's name,
    language or confirmed lists: the name and language wait in `pending_*` until the owner
    confirms. A request the per-address cap holds back changes nothing at all.
    """
    digest = address_hash(email)
    db.session.flush()  # what follows reads through the connection: no autoflush there
    conn = db.session.connection()
    if conn.scalar(_SUPPRESSION, {"digest": digest}) not in (None, SuppressionReason.erased):
        return Signup(SignupOutcome.nothing, None, digest)  # as may_confirm() says
    known = conn.execute(_KNOWN, {"email": email}).first()
    if known is None:
        inserted = _insert_new(email, digest, lists, name, language, _consent(source, lists, ip))
        if inserted is not None:
            return inserted
        known = conn.execute(_KNOWN, {"email": email}).one()  # a concurrent sign-up won
    if known.confirmed:
        if not address_cap.take_slot(digest, address_cap.SIGNUP, known.id):
            return Signup(SignupOutcome.nothing, None, digest)
        return Signup(SignupOutcome.already_subscribed, known.id, digest)
    subscriber = db.session.get_one(Subscriber, known.id)
    if not address_cap.take_slot(digest, address_cap.SIGNUP, subscriber.id):
        return Signup(SignupOutcome.nothing, None, digest)
    subscriber.pending_name, subscriber.pending_language = name or None, language
    existing = {s.list_id: s for s in subscriber.subscriptions}
    for lst in lists:
        sub = existing.get(lst.id)
        if sub is None:
            subscriber.subscriptions.append(Subscription(list_id=lst.id))
        elif sub.status == SubscriptionStatus.unsubscribed:
            sub.status, sub.created_at = SubscriptionStatus.pending, utcnow()
    subscriber.confirm_requested_at = subscriber.confirm_queued_at = clock.now()
    # Not through subscriber.consents: appending would load every earlier record first.
    db.session.add(ConsentRecord(subscriber_id=subscriber.id, **_consent(source, lists, ip)))
    db.session.flush()
    return Signup(SignupOutcome.confirmation, subscriber.id, digest)


# The sign-up's lookups, built once: the address's suppression, and whether it is known and
# already confirmed on some list.
_SUPPRESSION = select(Suppression.reason).where(Suppression.address_hash == bindparam("digest"))
_KNOWN = select(
    Subscriber.id,
    exists()
    .where(
        Subscription.subscriber_id == Subscriber.id,
        Subscription.status == SubscriptionStatus.confirmed,
    )
    .label("confirmed"),
).where(Subscriber.email == bindparam("email"))


def _insert_new(
    email: str,
    digest: str,
    lists: Sequence[MailingList],
    name: str | None,
    language: str,
    consent: dict[str, Any],
) -> Signup | None:
    """Insert a new address with its pending subscriptions and consent, if the cap allows.

    None when a concurrent sign-up inserted the address first (the caller takes that row);
    a request the per-address cap holds back leaves nothing behind.
    A few Core statements rather than the ORM's unit of work: this is the sign-up burst's
    hot path (README, "Sign-up under a burst").
    """
    now = clock.now()
    conn = db.session.connection()  # Core, not the ORM's bulk insert: the burst's hot path
    dialect = conn.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Subscriber).values(
        email=email,
        address_hash=digest,
        language=language,
        pending_name=name or None,
        pending_language=language,
        confirm_requested_at=now,
        confirm_queued_at=now,
    )
    new_id = conn.scalar(
        insert.on_conflict_do_nothing(index_elements=["email"]).returning(Subscriber.id)
    )
    if new_id is None:
        return None
    # The uncommitted row makes any other insert of the address wait: no row lock needed.
    if not address_cap.take_slot(digest, address_cap.SIGNUP):
        conn.execute(delete(Subscriber).where(Subscriber.id == new_id))
        return Signup(SignupOutcome.nothing, None, digest)
    conn.execute(
        sa_insert(Subscription), [{"subscriber_id": new_id, "list_id": lst.id} for lst in lists]
    )
    conn.execute(sa_insert(ConsentRecord), {"subscriber_id": new_id, **consent})
    return Signup(SignupOutcome.confirmation, int(new_id), digest)


def _consent(source: str, lists: Sequence[MailingList], ip: str | None) -> dict[str, Any]:
    """The columns of a sign-up's consent record."""
    return {
        "action": "signup",
        "consent_version": current_app.config["CONSENT_VERSION"],
        "source": source[:64],
        "lists": ",".join(lst.slug for lst in lists)[:500],
        "ip_hash": ip_hash(ip),
    }


def mark_not_queued(subscriber_id: int) -> None:
    """The confirmation task could not be enqueued: leave it to the sweeper."""
    db.session.execute(
        update(Subscriber).where(Subscriber.id == subscriber_id).values(confirm_queued_at=None)
    )
