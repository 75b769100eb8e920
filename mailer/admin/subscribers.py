"""Admin: subscribers (search, filter, view one, unsubscribe from all lists, erase)."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from mailer.admin.views import bp
from mailer.extensions import db
from mailer.models import BounceEvent, MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.subscriptions.service import erase, unsubscribe_all

logger = logging.getLogger(__name__)
PER_PAGE = 50


def _filtered(q: str, mailing_list: MailingList | None, status: str | None) -> Select[int]:
    """Ids of the subscribers matching the search and the list/status filter."""
    query = select(Subscriber.id)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(Subscriber.email).like(like), func.lower(Subscriber.name).like(like))
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


@bp.get("/subscribers")
def subscribers() -> ResponseReturnValue:
    q, mailing_list, status = search_args()
    page = request.args.get("page", 1, type=int) or 1
    if page < 1:
        abort(404)
    ids = _filtered(q, mailing_list, status)
    total = db.session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    if page > 1 and (page - 1) * PER_PAGE >= total:
        abort(404)
    rows = db.session.scalars(
        select(Subscriber)
        .where(Subscriber.id.in_(ids))
        .options(selectinload(Subscriber.subscriptions))
        .order_by(Subscriber.id.desc())
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    return render_template(
        "admin/subscribers.html",
        subscribers=rows,
        lists=db.session.scalars(select(MailingList).order_by(MailingList.id)).all(),
        statuses=list(SubscriptionStatus),
        q=q,
        slug=mailing_list.slug if mailing_list else None,
        status=status,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )


@bp.get("/subscribers/<int:subscriber_id>")
def subscriber(subscriber_id: int) -> ResponseReturnValue:
    found = db.session.get(Subscriber, subscriber_id) or abort(404)
    events = db.session.scalars(
        select(BounceEvent)
        .where(BounceEvent.subscriber_id == subscriber_id)
        .order_by(BounceEvent.received_at.desc(), BounceEvent.id.desc())
        .limit(200)
    ).all()
    return render_template("admin/subscriber.html", subscriber=found, events=events)


@bp.post("/subscribers/<int:subscriber_id>/unsubscribe")
def unsubscribe_subscriber(subscriber_id: int) -> ResponseReturnValue:
    found = db.session.get(Subscriber, subscriber_id) or abort(404)
    unsubscribe_all(found)
    db.session.commit()
    logger.info("editor %s unsubscribed subscriber %s from all lists", current_user.id, found.id)
    flash("Unsubscribed from every list.")
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id), 303)


@bp.post("/subscribers/<int:subscriber_id>/erase")
def erase_subscriber(subscriber_id: int) -> ResponseReturnValue:
    found = db.session.get(Subscriber, subscriber_id) or abort(404)
    erase(found)
    db.session.commit()
    logger.info("editor %s erased subscriber %s", current_user.id, subscriber_id)
    flash(f"Subscriber {subscriber_id} erased; only a suppression hash of the address is kept.")
    return redirect(url_for("admin.subscribers"), 303)


from mailer.admin import subscriber_io  # noqa: E402,F401  (add, import, export routes on bp)
