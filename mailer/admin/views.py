"""Admin: login, logout, the dashboard and the lists' pages."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required, logout_user
from sqlalchemy import func, select

from mailer.admin import auth, bp, chart, stats
from mailer.admin.forms import WEEKDAY_CHOICES, ListForm, LoginForm
from mailer.digests.schedule import valid_timezone
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
    flash("You are logged out.")
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


@bp.get("/lists")
def lists() -> ResponseReturnValue:
    rows = db.session.scalars(select(MailingList).order_by(MailingList.id)).all()
    return render_template("admin/lists.html", lists=rows)


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
def edit_list(list_id: int) -> ResponseReturnValue:
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    form = ListForm(obj=mailing_list)
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    form.schedule_weekday.choices = WEEKDAY_CHOICES
    if request.method != "POST":
        form.schedule_weekday.data = (
            "" if mailing_list.schedule_weekday is None else str(mailing_list.schedule_weekday)
        )
    elif form.validate():
        if not valid_timezone(form.schedule_timezone.data or ""):
            form.schedule_timezone.errors = ["Unknown time zone; use a name like Europe/Berlin."]
        elif form.schedule_weekday.data and form.schedule_hour.data is None:
            form.schedule_hour.errors = ["Choose the hour of the weekly digest."]
        elif _slug_taken(form.slug.data or "", mailing_list.id):
            form.slug.errors = ["Another list has this slug."]
        else:
            _apply_list_form(mailing_list, form)
            db.session.commit()
            flash("List saved.")
            return redirect(url_for("admin.edit_list", list_id=list_id), 303)
    return render_template("admin/list_edit.html", form=form, mailing_list=mailing_list), (
        422 if form.errors else 200
    )


def _slug_taken(slug: str, list_id: int) -> bool:
    found = db.session.scalar(select(MailingList.id).where(MailingList.slug == slug))
    return found is not None and found != list_id


def _apply_list_form(mailing_list: MailingList, form: ListForm) -> None:
    mailing_list.name = form.name.data or mailing_list.name
    mailing_list.slug = form.slug.data or mailing_list.slug
    mailing_list.description = form.description.data or ""
    mailing_list.is_public = bool(form.is_public.data)
    mailing_list.language = form.language.data or "en"
    weekday = form.schedule_weekday.data
    mailing_list.schedule_weekday = int(weekday) if weekday else None
    mailing_list.schedule_hour = form.schedule_hour.data if weekday else None
    mailing_list.schedule_timezone = form.schedule_timezone.data or "UTC"
