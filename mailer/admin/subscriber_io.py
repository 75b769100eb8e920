"""Admin: add one subscriber, export the current search as CSV (import: subscriber_imports)."""

from __future__ import annotations

import logging

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from mailer import audit
from mailer.accounts.sessions import reauth_required
from mailer.admin import bp, search
from mailer.admin.access import require
from mailer.admin.forms import AddSubscriberForm
from mailer.extensions import db
from mailer.models import MailingList, Role, Subscriber, SubscriptionStatus, utcnow
from mailer.privacy import InvalidAddress, normalise_email
from mailer.subscriptions import exporting, importing
from mailer.tasks import enqueue_confirmations

logger = logging.getLogger(__name__)


def _all_lists() -> list[MailingList]:
    return list(db.session.scalars(select(MailingList).order_by(MailingList.id)))


def _editor() -> str:
    return f"editor {current_user.id}"


@bp.route("/subscribers/new", methods=["GET", "POST"])
def add_subscriber() -> ResponseReturnValue:
    lists = _all_lists()
    form = AddSubscriberForm()
    form.lists.choices = [(lst.slug, lst.name) for lst in lists]
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    if not form.is_submitted():
        form.language.data = current_app.config["DEFAULT_LANGUAGE"]
    if not form.validate_on_submit():
        return render_template("admin/subscriber_new.html", form=form), (
            422 if form.is_submitted() else 200
        )
    try:
        email = normalise_email(form.email.data or "")
    except InvalidAddress:
        form.email.errors = ["Enter a valid email address, like name@example.org."]
        return render_template("admin/subscriber_new.html", form=form), 422
    chosen = [lst for lst in lists if lst.slug in (form.lists.data or [])]
    if not chosen:
        form.lists.errors = [_("Choose at least one list.")]
        return render_template("admin/subscriber_new.html", form=form), 422
    consented = bool(form.consented.data)
    if consented:
        require(Role.owner)  # skipping double opt-in is an owner's decision
    report = importing.add_subscriber(
        email,
        name=(form.name.data or "").strip() or None,
        language=form.language.data or "en",
        lists=chosen,
        consented=consented,
        source=f"added by {_editor()}",
    )
    if report.refused:
        db.session.rollback()
        why = report.refused[0][1]
        if why == "suppressed":
            message = _("This address is on the suppression list; it cannot be added.")
        elif why.startswith("unsubscribed"):
            message = _("Not added: they %(why)s. They can sign up again themselves.", why=why)
        else:
            message = _("Not added: %(why)s. Try again tomorrow.", why=why)
        form.email.errors = [message]
        return render_template("admin/subscriber_new.html", form=form), 422
    db.session.commit()
    subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    logger.info("editor %s added subscriber %s", current_user.id, subscriber_id)
    audit.record(
        "add_subscriber",
        editor_id=current_user.id,
        objects=("subscriber", subscriber_id or 0),
        detail={"consented": consented, "lists": [lst.slug for lst in chosen]},
    )
    enqueue_confirmations(report.to_confirm)
    if report.already_pending and report.to_confirm:
        flash(
            _(
                "Already subscribed and awaiting confirmation: the confirmation email was"
                " sent again."
            )
        )
    elif report.already_pending:
        flash(
            _(
                "Already subscribed and awaiting confirmation: a confirmation email went to"
                " this address recently, so none was sent now."
            )
        )
    elif report.already:
        flash(_("Already a confirmed subscriber of every list chosen; nothing changed."))
    elif consented:
        flash(_("Subscriber added, confirmed."))
    else:
        flash(_("Subscriber added, pending: a confirmation email is on its way."))
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id), 303)


@bp.get("/subscribers/export")
@reauth_required
def export_subscribers() -> ResponseReturnValue:
    try:
        found = search.current()
    except search.SearchGone as gone:
        return search.start_again(gone)  # never the whole list instead of a search
    q, mailing_list, status = found.text, found.mailing_list, found.status
    query = exporting.export_query(
        mailing_list=mailing_list,
        status=SubscriptionStatus(status) if status else None,
        subscriber_ids=search.filtered(q, None, None) if q else None,
    )
    logger.info("editor %s exported subscribers", current_user.id)
    slug = mailing_list.slug if mailing_list else "all"
    # The search text may be an address: only whether there was one is recorded.
    audit.record(
        "export_subscribers",
        editor_id=current_user.id,
        detail={"list": slug, "status": status or "any", "searched": bool(q)},
    )
    db.session.commit()
    filename = f"subscribers-{slug}-{utcnow():%Y%m%d}.csv"
    return Response(
        stream_with_context(exporting.export_csv(query)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
