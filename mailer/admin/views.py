"""Admin: the dashboard; sign-in, lists, articles, digests... in sibling modules."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from mailer.accounts import throttle
from mailer.admin import access, bp, chart, stats
from mailer.extensions import db
from mailer.models import (
    Digest,
    DigestStatus,
    Editor,
    MailingList,
    Subscription,
    SubscriptionStatus,
)


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    counts = dict(
        db.session.execute(
            select(Subscription.status, func.count(Subscription.id)).group_by(Subscription.status)
        ).all()
    )
    recent = db.session.scalars(select(Digest).order_by(Digest.id.desc()).limit(5)).all()
    history = stats.weekly_history()
    # Sign-in failures name editors: owners only (they manage the accounts).
    failures = throttle.recent_failures() if access.allowed("admin.editors") else []
    ids = {event.editor_id for event in failures if event.editor_id is not None}
    editors = (
        dict(db.session.execute(select(Editor.id, Editor.email).where(Editor.id.in_(ids))).all())
        if ids
        else {}
    )
    return render_template(
        "admin/dashboard.html",
        confirmed=counts.get(SubscriptionStatus.confirmed, 0),
        pending=counts.get(SubscriptionStatus.pending, 0),
        unsubscribed=counts.get(SubscriptionStatus.unsubscribed, 0),
        lists=db.session.scalars(select(MailingList).order_by(MailingList.id)).all(),
        digests=recent,
        sent=db.session.scalar(
            select(func.count(Digest.id)).where(Digest.status == DigestStatus.sent)
        ),
        history=history,
        growth=None if history.empty else chart.growth_chart(history),
        churn=None if history.empty else chart.churn_chart(history),
        sign_in_failures=failures,
        failure_editors=editors,
    )
