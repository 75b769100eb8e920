"""Sign-up, confirmation, preferences, unsubscribe and erasure. Services flush; callers commit."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite

from mailer import clock
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    ConsentRecord,
    Delivery,
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
from mailer.subscriptions.links import subscriber_for
from mailer.tokens import read_token


class UnknownList(ValueError):
    """A list slug that does not exist or is not open to sign-up."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"There is no public list called “{slug}”.")
        self.slug = slug


class TokenUsed(Exception):
    """A genuine confirmation token whose subscriptions are no longer pending."""

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__("token already used")
        self.subscriber = subscriber


class SignupOutcome(enum.Enum):
    confirmation = "confirmation"  # send a confirmation mail
    already_subscribed = "already_subscribed"  # send "manage your preferences"
    nothing = "nothing"  # suppressed, or held back by the per-address cap: send and change nothing


@dataclass(frozen=True)
class Signup:
    outcome: SignupOutcome
    subscriber_id: int | None
    address_hash: str


# --- lists -----------------------------------------------------------------------------------


def public_lists() -> Sequence[MailingList]:
    return db.session.scalars(
        select(MailingList).where(MailingList.is_public.is_(True)).order_by(MailingList.id)
    ).all()


def lists_by_slug(slugs: Iterable[str], *, public_only: bool = True) -> list[MailingList]:
    """The lists named by `slugs`, in that order; raise UnknownList for any other."""
    wanted = list(dict.fromkeys(slugs))
    query = select(MailingList).where(MailingList.slug.in_(wanted))
    if public_only:
        query = query.where(MailingList.is_public.is_(True))
    return choose_lists(wanted, db.session.scalars(query))


def choose_lists(slugs: Iterable[str], available: Iterable[MailingList]) -> list[MailingList]:
    """The lists of `available` named by `slugs`, in that order; raise UnknownList for any other."""
    found = {lst.slug: lst for lst in available}
    wanted = list(dict.fromkeys(slugs))
    for slug in wanted:
        if slug not in found:
            raise UnknownList(slug)
    return [found[s] for s in wanted]


# --- sign-up ---------------------------------------------------------------------------------


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


def has_confirmed(subscriber: Subscriber) -> bool:
    return any(s.status == SubscriptionStatus.confirmed for s in subscriber.subscriptions)


def subscribe(
    email: str,
    *,
    lists: Sequence[MailingList],
    name: str | None = None,
    language: str = "en",
    source: str = "form",
    ip: str | None = None,
    shown_in: str | None = None,
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
        inserted = _insert_new(
            email, digest, lists, name, language, _consent(source, lists, ip, shown_in)
        )
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
    db.session.add(
        ConsentRecord(subscriber_id=subscriber.id, **_consent(source, lists, ip, shown_in))
    )
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


def _consent(
    source: str, lists: Sequence[MailingList], ip: str | None, language: str | None = None
) -> dict[str, Any]:
    """The columns of a sign-up's consent record (`language`: the wording's, as shown)."""
    return {
        "action": "signup",
        "consent_version": current_app.config["CONSENT_VERSION"],
        "language": language,
        "source": source[:64],
        "lists": ",".join(lst.slug for lst in lists)[:500],
        "ip_hash": ip_hash(ip),
    }


def record_consent(
    subscriber: Subscriber,
    action: str,
    source: str,
    slugs: Sequence[str],
    ip: str | None,
    language: str | None = None,
) -> None:
    subscriber.consents.append(
        ConsentRecord(
            action=action,
            language=language,
            consent_version=current_app.config["CONSENT_VERSION"],
            source=source[:64],
            lists=",".join(slugs)[:500],
            ip_hash=ip_hash(ip),
        )
    )


def confirm_max_age() -> timedelta:
    max_age: timedelta = current_app.config["CONFIRM_MAX_AGE"]
    return max_age


def mark_not_queued(subscriber_id: int) -> None:
    """The confirmation task could not be enqueued: leave it to the sweeper."""
    db.session.execute(
        update(Subscriber).where(Subscriber.id == subscriber_id).values(confirm_queued_at=None)
    )


def pending_subscriptions(subscriber: Subscriber) -> list[Subscription]:
    return [s for s in subscriber.subscriptions if s.status == SubscriptionStatus.pending]


def pending_list_ids(subscriber: Subscriber) -> list[int]:
    return [s.list_id for s in pending_subscriptions(subscriber)]


# --- unsubscribe, preferences -------------------------------------------------------


def unsubscribe(token: str) -> Subscriber:
    """Unsubscribe from the token's list, or from every list. Idempotent; tokens never expire."""
    data = read_token("unsubscribe", token)
    subscriber = subscriber_for(data, "unsubscribe")
    list_id = data.get("l")
    query = update(Subscription).where(
        Subscription.subscriber_id == subscriber.id,
        Subscription.status != SubscriptionStatus.unsubscribed,
    )
    if isinstance(list_id, int):
        query = query.where(Subscription.list_id == list_id)
    db.session.execute(
        query.values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(subscriber)
    return subscriber


def visible_lists(subscriber: Subscriber) -> list[MailingList]:
    """Public lists plus any private list the subscriber belongs to."""
    own = {s.list_id for s in subscriber.subscriptions}
    lists = db.session.scalars(select(MailingList).order_by(MailingList.id)).all()
    return [lst for lst in lists if lst.is_public or lst.id in own]


def update_preferences(
    subscriber: Subscriber, *, list_ids: Iterable[int], name: str | None, language: str
) -> None:
    """Set the subscriber's lists, name and language from the preferences page.

    The page is reached by a link from the subscriber's own mailbox, so a newly ticked
    list is confirmed at once.
    """
    wanted = set(list_ids)
    allowed = {lst.id for lst in visible_lists(subscriber)}
    now = utcnow()
    by_list = {s.list_id: s for s in subscriber.subscriptions}
    for list_id in allowed:
        sub = by_list.get(list_id)
        if list_id in wanted and (sub is None or sub.status != SubscriptionStatus.confirmed):
            if sub is None:
                sub = Subscription(list_id=list_id)
                subscriber.subscriptions.append(sub)
            sub.status, sub.confirmed_at, sub.unsubscribed_at = (
                SubscriptionStatus.confirmed,
                now,
                None,
            )
        elif (
            list_id not in wanted
            and sub is not None
            and sub.status != SubscriptionStatus.unsubscribed
        ):
            sub.status, sub.unsubscribed_at = SubscriptionStatus.unsubscribed, now
    subscriber.name = name or None
    subscriber.language = language
    db.session.flush()


def unsubscribe_all(subscriber: Subscriber) -> None:
    update_preferences(subscriber, list_ids=(), name=subscriber.name, language=subscriber.language)


def confirmed_list_ids(subscriber: Subscriber) -> list[int]:
    return [s.list_id for s in subscriber.subscriptions if s.status == SubscriptionStatus.confirmed]


def export_data(subscriber: Subscriber) -> dict[str, Any]:
    """Everything mailer keeps about one subscriber, for "download my data"."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "created_at": subscriber.created_at.isoformat(),
        "subscriptions": [
            {
                "list": s.mailing_list.slug,
                "list_name": s.mailing_list.name,
                "status": s.status.value,
                "created_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
                "unsubscribed_at": s.unsubscribed_at.isoformat() if s.unsubscribed_at else None,
            }
            for s in subscriber.subscriptions
        ],
        "consent_records": [c.as_dict() for c in subscriber.consents],
    }


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
