"""Unsubscribe, the preferences page's changes and "download my data". Services flush."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus, utcnow
from mailer.subscriptions.consent import record_consent
from mailer.subscriptions.links import subscriber_for
from mailer.tokens import read_token


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
    subscriber: Subscriber,
    *,
    list_ids: Iterable[int],
    name: str | None,
    language: str,
    ip: str | None = None,
    shown_in: str | None = None,
) -> None:
    """Set the subscriber's lists, name and language from the preferences page.

    The page is reached by a link from the subscriber's own mailbox, so a newly ticked
    list is confirmed at once, with a consent record: the page says that ticking a list
    is agreeing to its mail (`shown_in`: the language the page said it in).
    """
    wanted = set(list_ids)
    visible = {lst.id: lst for lst in visible_lists(subscriber)}
    now = utcnow()
    by_list = {s.list_id: s for s in subscriber.subscriptions}
    joined = []
    for list_id in visible:
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
            joined.append(visible[list_id].slug)
        elif (
            list_id not in wanted
            and sub is not None
            and sub.status != SubscriptionStatus.unsubscribed
        ):
            sub.status, sub.unsubscribed_at = SubscriptionStatus.unsubscribed, now
    if joined:
        record_consent(subscriber, "preferences", "preferences", joined, ip, shown_in)
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
