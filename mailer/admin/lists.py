"""Admin: mailing lists (list, create, edit, delete). The changes live in mailer.lists.service."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from mailer.admin import bp
from mailer.admin.forms import SEND_CHOICES, WEEKDAY_CHOICES, ListForm
from mailer.extensions import db
from mailer.lists import service
from mailer.lists.fields import InvalidList, ListError, ListFields
from mailer.models import MailingList

logger = logging.getLogger(__name__)


@bp.get("/lists")
def lists() -> ResponseReturnValue:
    rows = db.session.scalars(select(MailingList).order_by(MailingList.id)).all()
    return render_template("admin/lists.html", lists=rows)


@bp.route("/lists/new", methods=["GET", "POST"])
def new_list() -> ResponseReturnValue:
    form = _form(None)
    status = 200
    if request.method == "POST":
        status = _submit(form, None)
        if status == 303:
            return redirect(url_for("admin.lists"), 303)
    return render_template("admin/list_edit.html", form=form, mailing_list=None), status


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
def edit_list(list_id: int) -> ResponseReturnValue:
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    form = _form(mailing_list)
    status = 200
    if request.method == "POST":
        status = _submit(form, mailing_list)
        if status == 303:
            return redirect(url_for("admin.edit_list", list_id=list_id), 303)
    page = render_template("admin/list_edit.html", form=form, mailing_list=mailing_list)
    return page, status


@bp.post("/lists/<int:list_id>/delete")
def delete_list(list_id: int) -> ResponseReturnValue:
    """First POST: the confirmation page with what goes; with `confirm`: delete."""
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    summary = service.deletion_summary(mailing_list)
    if summary.busy:
        return _confirm_page(mailing_list, summary, service.busy_message(summary)), 409
    if summary.needs_confirmation and request.form.get("confirm") != mailing_list.slug:
        return _confirm_page(mailing_list, summary), 200
    name = mailing_list.name
    try:
        service.delete_list(mailing_list)
    except ListError as exc:
        db.session.rollback()
        return _confirm_page(mailing_list, summary, exc.message), exc.status
    db.session.commit()
    logger.info("list %s deleted", list_id)
    flash(_("List “%(name)s” deleted.", name=name))
    return redirect(url_for("admin.lists"), 303)


def _confirm_page(mailing_list: MailingList, summary: object, error: str | None = None) -> str:
    return render_template(
        "admin/list_delete.html", mailing_list=mailing_list, summary=summary, error=error
    )


def _form(mailing_list: MailingList | None) -> ListForm:
    form = ListForm(obj=mailing_list)
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    form.schedule_weekday.choices = WEEKDAY_CHOICES
    form.weekly_mode.choices = SEND_CHOICES
    if request.method != "POST":
        weekday = mailing_list.schedule_weekday if mailing_list else None
        form.schedule_weekday.data = "" if weekday is None else str(weekday)
        auto = mailing_list is not None and mailing_list.send_automatically
        form.weekly_mode.data = "auto" if auto else "wait"
        form.confirm_slug_change.data = False
        if mailing_list is None:
            form.is_public.data = True
            form.schedule_timezone.data = "UTC"
    return form


def _submit(form: ListForm, mailing_list: MailingList | None) -> int:
    """Validate and save; 303 when saved, else the status to show the form with its errors."""
    if not form.validate():
        return 422
    fields = _fields(form, mailing_list)
    languages = current_app.config["LANGUAGES"]
    try:
        if mailing_list is None:
            saved = service.create_list(fields, languages)
        else:
            saved = service.update_list(
                mailing_list, fields, languages, bool(form.confirm_slug_change.data)
            )
    except InvalidList as exc:
        for name, message in exc.errors.items():
            form[name].errors = [message]
        return exc.status
    except ListError as exc:
        form[exc.field or "name"].errors = [exc.message]
        return exc.status
    db.session.commit()
    logger.info("list %s saved", saved.id)
    flash(_("List “%(name)s” saved.", name=saved.name))
    return 303


def _fields(form: ListForm, mailing_list: MailingList | None) -> ListFields:
    weekday = form.schedule_weekday.data
    hour = form.schedule_hour.data
    if not weekday and mailing_list is not None and mailing_list.schedule_weekday is not None:
        hour = None  # "No automatic digest" turns the schedule off, with the hour it shows
    return ListFields(
        name=form.name.data or "",
        slug=form.slug.data or "",
        description=form.description.data or "",
        is_public=bool(form.is_public.data),
        language=form.language.data or "",
        from_name=form.from_name.data or "",
        reply_to=form.reply_to.data or "",
        schedule_weekday=int(weekday) if weekday else None,
        schedule_hour=hour,
        schedule_timezone=form.schedule_timezone.data or "",
        send_automatically=form.weekly_mode.data == "auto",
        pause_bounce_rate=form.pause_bounce_rate.data,
        pause_complaint_rate=form.pause_complaint_rate.data,
        pause_min_sent=form.pause_min_sent.data,
    )
