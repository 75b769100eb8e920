"""Subscriptions: domain errors, the lists offered, and what a subscriber's rows say.

The services live in modules of their own and are re-exported here, so that callers keep one
name for them (`service.subscribe`): sign-up (signup.py), unsubscribe and preferences
(preferences.py), the suppression list and erasure (erasure.py); confirmation links are in
confirmation.py. Services flush; callers commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from mailer.subscriptions.consent import record_consent
from mailer.subscriptions.erasure import (
    delete_subscriber,
    erase,
    is_suppressed,
    may_confirm,
    suppress,
    suppression_reason,
)
from mailer.subscriptions.preferences import (
    confirmed_list_ids,
    export_data,
    unsubscribe,
    unsubscribe_all,
    update_preferences,
    visible_lists,
)
from mailer.subscriptions.signup import Signup, SignupOutcome, mark_not_queued, subscribe

__all__ = [
    "Signup",
    "SignupOutcome",
    "Subscriber",
    "SubscriptionStatus",
    "SuppressionReason",
    "TokenUsed",
    "UnknownList",
    "choose_lists",
    "confirm_max_age",
    "confirmed_list_ids",
    "delete_subscriber",
    "erase",
    "export_data",
    "has_confirmed",
    "is_suppressed",
    "lists_by_slug",
    "mark_not_queued",
    "may_confirm",
    "pending_list_ids",
    "pending_subscriptions",
    "public_lists",
    "record_consent",
    "subscribe",
    "suppress",
    "suppression_reason",
    "timedelta",
    "unsubscribe",
    "unsubscribe_all",
    "update_preferences",
    "utcnow",
    "visible_lists",
]


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


# --- what a subscriber's rows say ----------------------------------------------------------


def has_confirmed(subscriber: Subscriber) -> bool:
    return any(s.status == SubscriptionStatus.confirmed for s in subscriber.subscriptions)


def confirm_max_age() -> timedelta:
    max_age: timedelta = current_app.config["CONFIRM_MAX_AGE"]
    return max_age


def pending_subscriptions(subscriber: Subscriber) -> list[Subscription]:
    return [s for s in subscriber.subscriptions if s.status == SubscriptionStatus.pending]


def pending_list_ids(subscriber: Subscriber) -> list[int]:
    return [s.list_id for s in pending_subscriptions(subscriber)]
