"""Preferences pages and the one-time links they mail (audit M4). Routes on the public `bp`.

A preferences link sits in every digest footer and travels with every forwarded digest, so
it changes lists, name and language at once, but the page shows the address masked, and
"download my data" and "erase me" only mail a one-time link to the address itself.
"""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from mailer import i18n
from mailer.extensions import db, limiter
from mailer.models import Subscriber
from mailer.privacy import address_hash
from mailer.subscriptions import address_cap, links, service
from mailer.subscriptions.forms import ActionForm, EraseForm, PreferencesForm
from mailer.subscriptions.views import bp, token_limit
from mailer.tasks import enqueue_after_commit, send_link_mail

logger = logging.getLogger(__name__)


@bp.route("/preferences/<token>", methods=["GET", "POST"])
@limiter.limit(token_limit)
def preferences(token: str) -> ResponseReturnValue:
    subscriber = links.subscriber_from_token("preferences", token)
    i18n.use_reader_language(subscriber.language)
    form = PreferencesForm(obj=subscriber if request.method != "POST" else None)
    lists = service.visible_lists(subscriber)
    form.lists.choices = [(lst.id, lst.name) for lst in lists]
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    if request.method != "POST":
        form.lists.data = service.confirmed_list_ids(subscriber)
    elif form.validate():
        service.update_preferences(
            subscriber,
            list_ids=form.lists.data or [],
            name=(form.name.data or "").strip() or None,
            language=form.language.data or "en",
            ip=request.remote_addr,
            shown_in=i18n.current(),  # the language the page, and its consent sentence, was in
        )
        db.session.commit()
        i18n.use_reader_language(subscriber.language)  # the saved message in the new language
        flash(_("Your preferences are saved."))
        return redirect(url_for(".preferences", token=token), 303)
    status = 422 if form.errors else 200
    return render_template(
        "subscriptions/preferences.html",
        form=form,
        token=token,
        masked_address=links.mask_address(subscriber.email),
        lists={lst.id: lst for lst in lists},
        action=ActionForm(),
    ), status


@bp.post("/preferences/<token>/unsubscribe-all")
def unsubscribe_all(token: str) -> ResponseReturnValue:
    subscriber = links.subscriber_from_token("preferences", token)
    i18n.use_reader_language(subscriber.language)
    if not ActionForm().validate():
        abort(400)
    service.unsubscribe_all(subscriber)
    db.session.commit()
    flash(_("You are unsubscribed from every list. You will get no more mail from us."))
    return redirect(url_for(".preferences", token=token), 303)


def _mail_link(subscriber: Subscriber, kind: str) -> bool:
    """Take a slot of the per-address cap for a link mail, commit, and queue it."""
    digest = address_hash(subscriber.email)  # the column may be empty on old rows
    if not address_cap.take_slot(digest, address_cap.LINK, subscriber.id):
        db.session.commit()
        return False
    if not enqueue_after_commit(send_link_mail, subscriber.id, kind):
        logger.warning("%s link for subscriber %s not sent", kind, subscriber.id)
        return False
    return True


@bp.post("/preferences/<token>/send/<any(data, erase):kind>")
@limiter.limit(token_limit)
def request_link(token: str, kind: str) -> ResponseReturnValue:
    """Mail a one-time link for "download my data" or "erase me" to the address."""
    subscriber = links.subscriber_from_token("preferences", token)
    i18n.use_reader_language(subscriber.language)
    if not ActionForm().validate():
        abort(400)
    masked = links.mask_address(subscriber.email)
    if _mail_link(subscriber, kind):
        flash(
            _(
                "We sent a link to %(address)s. It works once, for the next hour.",
                address=i18n.isolate(masked),
            )
        )
    else:
        flash(_("We cannot send another link right now. Please try again later."))
    return redirect(url_for(".preferences", token=token), 303)


@bp.post("/preferences/<token>/sign-out")
@limiter.limit(token_limit)
def sign_out_links(token: str) -> ResponseReturnValue:
    """Revoke every link mailed so far (unsubscribe links aside) and mail a new one."""
    subscriber = links.subscriber_from_token("preferences", token)
    i18n.use_reader_language(subscriber.language)
    if not ActionForm().validate():
        abort(400)
    links.revoke_links(subscriber)
    db.session.flush()
    logger.info("subscriber %s signed out all links", subscriber.id)
    sent = _mail_link(subscriber, "preferences")
    return render_template(
        "subscriptions/signed_out.html",
        masked_address=links.mask_address(subscriber.email),
        sent=sent,
    )


@bp.route("/data/<token>", methods=["GET", "POST"])
@limiter.limit(token_limit)
def data_link(token: str) -> ResponseReturnValue:
    """A one-time link: GET shows a button (mail scanners follow links), POST downloads."""
    subscriber = links.subscriber_from_token("data", token)
    i18n.use_reader_language(subscriber.language)
    form = ActionForm()
    if request.method != "POST":
        return render_template("subscriptions/data_link.html", form=form, token=token)
    if not form.validate():
        abort(400)
    data = service.export_data(subscriber)
    links.use_once(subscriber)
    db.session.commit()
    response = jsonify(data)
    response.headers["Content-Disposition"] = 'attachment; filename="my-newsletter-data.json"'
    return response


@bp.route("/erase/<token>", methods=["GET", "POST"])
@limiter.limit(token_limit)
def erase_link(token: str) -> ResponseReturnValue:
    """A one-time link: GET shows the form, POST with the box ticked erases everything."""
    subscriber = links.subscriber_from_token("erase", token)
    i18n.use_reader_language(subscriber.language)
    form = EraseForm()
    if request.method != "POST" or not form.validate():
        status = 422 if request.method == "POST" else 200
        return render_template("subscriptions/erase_link.html", form=form, token=token), status
    service.erase(subscriber)
    db.session.commit()
    return render_template("subscriptions/erased.html")
