"""Confirmation links: check, confirm, and mail a fresh one. Services flush; callers commit."""

from __future__ import annotations

from sqlalchemy import delete

from mailer import clock
from mailer.extensions import db
from mailer.models import Subscriber, SubscriptionStatus, Suppression, SuppressionReason, utcnow
from mailer.privacy import address_hash
from mailer.subscriptions import address_cap, service
from mailer.subscriptions.links import request_fingerprint, subscriber_for, subscriber_from_token
from mailer.tokens import ExpiredToken, InvalidToken, read_token


def subscriber_for_new_link(token: str) -> Subscriber:
    """The subscriber of a genuine confirmation token, expired or not (to mail a fresh one)."""
    try:
        return subscriber_from_token("confirm", token, service.confirm_max_age())
    except ExpiredToken as exc:
        return subscriber_for(exc.data, "confirm")


def check_confirm_token(token: str) -> Subscriber:
    """Validate a confirmation token without using it; raise InvalidToken or TokenUsed."""
    data = read_token("confirm", token, service.confirm_max_age())
    subscriber = subscriber_for(data, "confirm")
    list_ids = data.get("l")
    if not isinstance(list_ids, list) or not any(
        s.list_id in list_ids for s in service.pending_subscriptions(subscriber)
    ):
        raise service.TokenUsed(subscriber)
    return subscriber


def request_new_confirmation(subscriber: Subscriber) -> service.SignupOutcome:
    """After an expired or used link: what to mail now (a new link, or the preferences link).

    The same per-address cap as the sign-up form's: whoever has an old link may not own it.
    """
    if not service.may_confirm(subscriber.email):
        return service.SignupOutcome.nothing
    outcome = (
        service.SignupOutcome.confirmation
        if service.pending_list_ids(subscriber)
        else service.SignupOutcome.already_subscribed
        if service.has_confirmed(subscriber)
        else service.SignupOutcome.nothing
    )
    if outcome is service.SignupOutcome.nothing or not address_cap.take_slot(
        address_hash(subscriber.email), address_cap.SIGNUP, subscriber.id
    ):
        return service.SignupOutcome.nothing
    if outcome is service.SignupOutcome.confirmation:
        subscriber.confirm_requested_at = subscriber.confirm_queued_at = clock.now()
    db.session.flush()
    return outcome


def confirm(token: str, ip: str | None = None, shown_in: str | None = None) -> Subscriber:
    """Confirm the subscriptions a confirmation token names, with the sign-up's name and
    language if the token was mailed for that sign-up. Works once. Lifts an `erased`
    suppression: the owner of the address has just come back through double opt-in.
    """
    data = read_token("confirm", token, service.confirm_max_age())
    subscriber = subscriber_for(data, "confirm")
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
        raise service.TokenUsed(subscriber)
    shown_in = shown_in or subscriber.pending_language or subscriber.language  # the page's
    if data.get("r") == request_fingerprint(subscriber) and subscriber.pending_language:
        subscriber.name = subscriber.pending_name or subscriber.name
        subscriber.language = subscriber.pending_language
    subscriber.pending_name = subscriber.pending_language = None
    db.session.execute(
        delete(Suppression).where(
            Suppression.address_hash == address_hash(subscriber.email),
            Suppression.reason == SuppressionReason.erased,
        )
    )
    service.record_consent(subscriber, "confirm", "confirmation-link", confirmed, ip, shown_in)
    db.session.flush()
    return subscriber
