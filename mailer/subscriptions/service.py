"""Sign-up, confirmation, preferences, unsubscribe and erasure. Services flush; callers commit."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

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
from mailer.tokens import ExpiredToken, InvalidToken, make_token, read_token


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
    nothing = "nothing"  # suppressed: send nothing, change nothing


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
    found = {lst.slug: lst for lst in db.session.scalars(query)}
    for slug in wanted:
        if slug not in found:
            raise UnknownList(slug)
    return [found[s] for s in wanted]


# --- tokens ----------------------------------------------------------------------------------


class Addressee(Protocol):
    """What a link token needs of a subscriber: a Subscriber, or its values from a query."""

    @property
    def uid(self) -> str: ...

    @property
    def email(self) -> str: ...


def _token_data(subscriber: Addressee, **extra: Any) -> dict[str, Any]:
    # The keyed address hash ties the token to the address: changing it revokes old links.
    return {"u": subscriber.uid, "h": address_hash(subscriber.email)[:16], **extra}


def confirm_token(subscriber: Subscriber, list_ids: Sequence[int]) -> str:
    return make_token("confirm", _token_data(subscriber, l=sorted(list_ids)))


def unsubscribe_token(subscriber: Addressee, list_id: int | None = None) -> str:
    extra = {"l": list_id} if list_id is not None else {}
    return make_token("unsubscribe", _token_data(subscriber, **extra))


def preferences_token(subscriber: Addressee) -> str:
    return make_token("preferences", _token_data(subscriber))


def link_tokens(subscriber: Addressee, list_id: int) -> tuple[str, str]:
    """A digest reader's unsubscribe (from that list) and preferences tokens, hashing once."""
    data = _token_data(subscriber)
    return make_token("unsubscribe", {**data, "l": list_id}), make_token("preferences", data)


def _subscriber_for(data: dict[str, Any]) -> Subscriber:
    uid, digest = data.get("u"), data.get("h")
    if not isinstance(uid, str) or not isinstance(digest, str):
        raise InvalidToken("bad payload")
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == uid))
    if subscriber is None or address_hash(subscriber.email)[:16] != digest:
        raise InvalidToken("unknown subscriber")
    return subscriber


def subscriber_from_token(purpose: str, token: str, max_age: timedelta | None = None) -> Subscriber:
    """The subscriber a valid token names; raise InvalidToken (or ExpiredToken)."""
    return _subscriber_for(read_token(purpose, token, max_age))


# --- sign-up ---------------------------------------------------------------------------------


def is_suppressed(email: str) -> bool:
    digest = address_hash(email)
    return (
        db.session.scalar(select(Suppression.id).where(Suppression.address_hash == digest))
        is not None
    )


def _has_confirmed(subscriber: Subscriber) -> bool:
    return any(s.status == SubscriptionStatus.confirmed for s in subscriber.subscriptions)


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

    A confirmed subscriber's data is never changed here: whoever submits the form may not
    own the address. A new, pending or fully unsubscribed address gets pending subscriptions.
    """
    digest = address_hash(email)
    if is_suppressed(email):
        return Signup(SignupOutcome.nothing, None, digest)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is not None and _has_confirmed(subscriber):
        return Signup(SignupOutcome.already_subscribed, subscriber.id, digest)
    if subscriber is None:
        subscriber = _insert_subscriber(email, name, language)
    else:
        subscriber.name = name or subscriber.name
        subscriber.language = language
    existing = {s.list_id: s for s in subscriber.subscriptions}
    for lst in lists:
        sub = existing.get(lst.id)
        if sub is None:
            subscriber.subscriptions.append(Subscription(list_id=lst.id))
        elif sub.status == SubscriptionStatus.unsubscribed:
            sub.status, sub.created_at = SubscriptionStatus.pending, utcnow()
    subscriber.confirm_requested_at = subscriber.confirm_queued_at = utcnow()
    _record_consent(subscriber, "signup", source, [lst.slug for lst in lists], ip)
    db.session.flush()
    return Signup(SignupOutcome.confirmation, subscriber.id, digest)


def _insert_subscriber(email: str, name: str | None, language: str) -> Subscriber:
    """Insert, or pick up the row a concurrent sign-up of the same address just inserted."""
    subscriber = Subscriber(
        email=email, address_hash=address_hash(email), name=name or None, language=language
    )
    try:
        with db.session.begin_nested():
            db.session.add(subscriber)
    except IntegrityError:
        existing = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if existing is None:
            raise
        return existing
    return subscriber


def _record_consent(
    subscriber: Subscriber, action: str, source: str, slugs: Sequence[str], ip: str | None
) -> None:
    subscriber.consents.append(
        ConsentRecord(
            action=action,
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


def subscriber_for_new_link(token: str) -> Subscriber:
    """The subscriber of a genuine confirmation token, expired or not (to mail a fresh one)."""
    try:
        return subscriber_from_token("confirm", token, confirm_max_age())
    except ExpiredToken as exc:
        return _subscriber_for(exc.data)


def check_confirm_token(token: str) -> Subscriber:
    """Validate a confirmation token without using it; raise InvalidToken or TokenUsed."""
    data = read_token("confirm", token, confirm_max_age())
    subscriber = _subscriber_for(data)
    list_ids = data.get("l")
    if not isinstance(list_ids, list) or not any(
        s.list_id in list_ids for s in _pending(subscriber)
    ):
        raise TokenUsed(subscriber)
    return subscriber


def _pending(subscriber: Subscriber) -> list[Subscription]:
    return [s for s in subscriber.subscriptions if s.status == SubscriptionStatus.pending]


def pending_list_ids(subscriber: Subscriber) -> list[int]:
    return [s.list_id for s in _pending(subscriber)]


def request_new_confirmation(subscriber: Subscriber) -> SignupOutcome:
    """After an expired or used link: what to mail now (a new link, or the preferences link)."""
    if is_suppressed(subscriber.email):
        return SignupOutcome.nothing
    if pending_list_ids(subscriber):
        subscriber.confirm_requested_at = subscriber.confirm_queued_at = utcnow()
        db.session.flush()
        return SignupOutcome.confirmation
    if _has_confirmed(subscriber):
        return SignupOutcome.already_subscribed
    return SignupOutcome.nothing


# --- confirm, unsubscribe, preferences -------------------------------------------------------


def confirm(token: str, ip: str | None = None) -> Subscriber:
    """Confirm the subscriptions a confirmation token names. Works once."""
    data = read_token("confirm", token, confirm_max_age())
    subscriber = _subscriber_for(data)
    list_ids = data.get("l")
    if not isinstance(list_ids, list):
        raise InvalidToken("bad payload")
    now = utcnow()
    confirmed = []
    for sub in subscriber.subscriptions:
        if sub.list_id in list_ids and sub.status == SubscriptionStatus.pending:
            sub.status, sub.confirmed_at, sub.unsubscribed_at = (
                SubscriptionStatus.confirmed,
                now,
                None,
            )
            confirmed.append(sub.mailing_list.slug)
    if not confirmed:
        raise TokenUsed(subscriber)
    _record_consent(subscriber, "confirm", "confirmation-link", confirmed, ip)
    db.session.flush()
    return subscriber


def unsubscribe(token: str) -> Subscriber:
    """Unsubscribe from the token's list, or from every list. Idempotent; tokens never expire."""
    data = read_token("unsubscribe", token)
    subscriber = _subscriber_for(data)
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
