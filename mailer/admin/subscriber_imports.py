"""Admin: upload a subscriber CSV, then follow its import (a background job) on its own page."""

from __future__ import annotations

import logging

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from mailer import audit
from mailer.accounts.sessions import reauth_required
from mailer.admin import bp
from mailer.admin.access import require
from mailer.admin.forms import SubscriberImportForm
from mailer.extensions import db
from mailer.models import MailingList, Role, SubscriberImport
from mailer.subscriptions import import_jobs, importing
from mailer.tasks import enqueue_after_commit, run_subscriber_import

logger = logging.getLogger(__name__)
SHOWN_REFUSED = 1000  # rows of the refused report on the page; the counts cover all


def _form() -> SubscriberImportForm:
    form = SubscriberImportForm()
    lists = db.session.scalars(select(MailingList).order_by(MailingList.id))
    form.list.choices = [(lst.slug, lst.name) for lst in lists]
    return form


def _page(form: SubscriberImportForm, status: int = 200) -> ResponseReturnValue:
    recent = db.session.scalars(
        select(SubscriberImport).order_by(SubscriberImport.id.desc()).limit(10)
    ).all()
    return render_template("admin/subscriber_import.html", form=form, recent=recent), status


def _confirmed_import() -> bool:
    return request.method == "POST" and bool(request.form.get("confirmed"))


@bp.route("/subscribers/import", methods=["GET", "POST"])
@reauth_required(when=_confirmed_import, back=lambda: url_for("admin.import_subscribers"))
def import_subscribers() -> ResponseReturnValue:
    form = _form()
    if request.method != "POST":
        return _page(form)
    if not form.validate():
        return _page(form, 422)
    if form.confirmed.data:
        require(Role.owner)  # importing people as confirmed skips double opt-in: owners only
    upload = form.file.data
    if upload is None or not getattr(upload, "filename", ""):
        form.file.errors = ["Choose a CSV file."]
        return _page(form, 422)
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == form.list.data))
    if mailing_list is None:
        abort(422)
    limit = int(current_app.config["SUBSCRIBER_IMPORT_MAX_BYTES"])
    data = upload.stream.read(limit + 1)
    try:  # the quick checks (size, UTF-8, CSV, header) here: a bad file never becomes a job
        if not importing.read_csv(data, limit):
            raise importing.BadFile("The file has a header but no rows.")
    except importing.BadFile as exc:
        form.file.errors = [f"Nothing imported: {exc}"]
        return _page(form, 413 if isinstance(exc, importing.FileTooLarge) else 422)
    job = import_jobs.create_job(
        data, mailing_list, confirmed=bool(form.confirmed.data), editor_id=current_user.id
    )
    logger.info("editor %s queued subscriber import %s", current_user.id, job.id)
    audit.record(
        "import_subscribers",
        editor_id=current_user.id,
        objects=("subscriber_import", job.id),
        detail={"list": mailing_list.slug, "confirmed": bool(form.confirmed.data)},
    )
    if not enqueue_after_commit(run_subscriber_import, job.id):
        import_jobs.fail(job.id, import_jobs.UNQUEUED)
    return redirect(url_for("admin.subscriber_import", import_id=job.id), 303)


def _job(import_id: int) -> SubscriberImport | None:
    return db.session.get(SubscriberImport, import_id)


@bp.get("/subscribers/imports/<int:import_id>")
def subscriber_import(import_id: int) -> ResponseReturnValue:
    job = _job(import_id) or abort(404)
    return render_template(
        "admin/subscriber_import_job.html",
        job=job,
        refused=job.refused_rows[:SHOWN_REFUSED] if job.refused_rows else [],
    )


@bp.get("/subscribers/imports/<int:import_id>.json")
def subscriber_import_progress(import_id: int) -> ResponseReturnValue:
    job = _job(import_id)
    if job is None:
        message = "There is no subscriber import with this id."
        return jsonify(error={"code": "not_found", "message": message}), 404
    return jsonify(import_jobs.as_json(job)), 200, {"Cache-Control": "no-store"}
