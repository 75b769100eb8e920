"""Admin: subscribers (search, filter, view one, unsubscribe from all lists, erase)."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mailer.accounts.sessions import reauth_required
from mailer.admin import bp
from mailer.admin.search import filtered, search_args
from mailer.extensions import db
from mailer.models import BounceEvent, MailingList, Subscriber, SubscriptionStatus
from mailer.subscriptions.service import erase, unsubscribe_all

logger = logging.getLogger(__name__)
PER_PAGE = 50


@bp.get("/subscribers")
def subscribers() -> ResponseReturnValue:
    q, mailing_list, status = search_args()
    page = request.args.get("page", 1, type=int) or 1
    if page < 1:
        abort(404)
    ids = filtered(q, mailing_list, status)
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
    flash(_("Unsubscribed from every list."))
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id), 303)


@bp.post("/subscribers/<int:subscriber_id>/erase")
@reauth_required(
    back=lambda subscriber_id: url_for("admin.subscriber", subscriber_id=subscriber_id)
)
def erase_subscriber(subscriber_id: int) -> ResponseReturnValue:
    found = db.session.get(Subscriber, subscriber_id) or abort(404)
    erase(found)
    db.session.commit()
    logger.info("editor %s erased subscriber %s", current_user.id, subscriber_id)
    flash(
        _(
            "Subscriber %(id)s erased; only a suppression hash of the address is kept.",
            id=subscriber_id,
        )
    )
    return redirect(url_for("admin.subscribers"), 303)
