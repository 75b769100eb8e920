"""Admin: login, logout and the dashboard; lists, articles, digests... in sibling modules."""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_required, logout_user
from sqlalchemy import func, select

from mailer.admin import auth, bp, chart, stats
from mailer.admin.forms import LoginForm
from mailer.extensions import db, limiter
from mailer.models import Digest, DigestStatus, MailingList, Subscription, SubscriptionStatus

logger = logging.getLogger(__name__)


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        editor = auth.authenticate(form.email.data or "", form.password.data or "")
        if editor is not None:
            auth.log_in(editor)
            db.session.commit()
            logger.info("editor %s logged in", editor.id)
            target = request.args.get("next") or ""
            # Only a local path: never bounce an editor to another site after login.
            if not target.startswith("/admin") or target.startswith("//"):
                target = url_for("admin.dashboard")
            return redirect(target, 303)
        form.password.errors = ["That email address and password do not match an editor."]
    status = 422 if form.errors else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("You are logged out."))
    return redirect(url_for("admin.login"), 303)


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    counts = dict(
        db.session.execute(
            select(Subscription.status, func.count(Subscription.id)).group_by(Subscription.status)
        ).all()
    )
    recent = db.session.scalars(select(Digest).order_by(Digest.id.desc()).limit(5)).all()
    history = stats.weekly_history()
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
    )
