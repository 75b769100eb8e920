"""The invitation page: reached logged out, through the one-time link of the mail.

A blueprint of its own (not under the admin blueprint's login guard); the token is the
only credential, it works once and expires (EDITOR_INVITE_MAX_AGE_HOURS).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from mailer import audit
from mailer.accounts import service
from mailer.accounts.passwords import MIN_LENGTH, PasswordRefused
from mailer.admin.account_forms import NewPasswordForm
from mailer.extensions import db, limiter

logger = logging.getLogger(__name__)

bp = Blueprint("admin_invite", __name__, url_prefix="/admin/invite")


def _limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


@bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def accept(token: str) -> ResponseReturnValue:
    try:
        invitation = service.open_invite(token)
    except service.InviteInvalid:
        return render_template("admin/invite_invalid.html"), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            editor = service.accept(token, form.password.data or "")
        except PasswordRefused as exc:
            form.password.errors = [str(exc)]
        except service.InviteInvalid:
            db.session.rollback()
            return render_template("admin/invite_invalid.html"), 410
        else:
            audit.record(
                "accept_invite", editor_id=editor.id, objects=("editor_invite", invitation.id)
            )
            db.session.commit()
            logger.info("invitation %s accepted: editor %s", invitation.id, editor.id)
            flash(_("Your account is ready: log in with your address and new password."))
            return redirect(url_for("admin.login"), 303)
    status = 422 if form.errors else 200
    return render_template(
        "admin/invite_accept.html", form=form, invitation=invitation, min_length=MIN_LENGTH
    ), status
