"""The admin's subscriber search (query string q, list, status), for the list and the export."""

from __future__ import annotations

from flask import abort, request
from sqlalchemy import Select, func, or_, select

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus


def filtered(q: str, mailing_list: MailingList | None, status: str | None) -> Select[int]:
    """Ids of the subscribers matching the search and the list/status filter."""
    query = select(Subscriber.id)
    if q:
        # The editor's text is matched literally: % and _ are not wildcards here.
        literal = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{literal}%"
        query = query.where(
            or_(
                func.lower(Subscriber.email).like(like, escape="\\"),
                func.lower(Subscriber.name).like(like, escape="\\"),
            )
        )
    if mailing_list is not None or status is not None:
        match = select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)
        if mailing_list is not None:
            match = match.where(Subscription.list_id == mailing_list.id)
        if status is not None:
            match = match.where(Subscription.status == SubscriptionStatus(status))
        query = query.where(match.exists())
    return query


def search_args() -> tuple[str, MailingList | None, str | None]:
    """The subscriber search of the query string (q, list, status); 404 for an unknown one."""
    q = request.args.get("q", "").strip()[:200]
    slug = request.args.get("list") or None
    status = request.args.get("status") or None
    if status is not None and status not in SubscriptionStatus.__members__:
        abort(404)
    mailing_list = None
    if slug is not None:
        mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        if mailing_list is None:
            abort(404)
    return q, mailing_list, status
