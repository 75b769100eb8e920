"""Admin: subscribers (search, filter, view one, unsubscribe from all lists, erase).

The search text never goes in a URL: the form posts, and the pages carry an opaque id
(mailer/admin/search.py).
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from redis import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mailer.accounts.sessions import reauth_required
from mailer.admin import bp, search
from mailer.extensions import db
from mailer.models import BounceEvent, MailingList, Subscriber, SubscriptionStatus
from mailer.subscriptions.service import erase, unsubscribe_all

logger = logging.getLogger(__name__)
PER_PAGE = 50


@bp.post("/subscribers/search")
def search_subscribers() -> ResponseReturnValue:
    text = request.form.get("q", "").strip()[: search.MAX_TEXT]
    mailing_list, status = search.filters(request.form)
    search_id = None
    if text:
        try:
            search_id = search.remember(text)
        except (RedisError, OSError) as exc:
            logger.warning("editor %s: search not kept, Redis: %r", current_user.id, exc)
            flash(_("The search could not be kept: the server's store did not answer. Try again."))
    slug = mailing_list.slug if mailing_list else None
    return redirect(url_for("admin.subscribers", search=search_id, list=slug, status=status), 303)


@bp.get("/subscribers")
def subscribers() -> ResponseReturnValue:
    try:
        found = search.current()
    except search.SearchGone as gone:
        return search.start_again(gone)
    page = request.args.get("page", 1, type=int) or 1
    if page < 1:
        abort(404)
    ids = search.filtered(found.text, found.mailing_list, found.status)
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
        q=found.text,
        search=found.url_args(),
        slug=found.slug,
        status=found.status,
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
