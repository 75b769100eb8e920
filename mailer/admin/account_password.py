"""Admin: an editor changes their own password (current password required, policy checked)."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from mailer import audit
from mailer.accounts import devices, service, sessions, throttle
from mailer.accounts.passwords import MIN_LENGTH, PasswordRefused
from mailer.admin import bp
from mailer.admin.account_forms import ChangePasswordForm
from mailer.tasks.accounts import notify_editor

logger = logging.getLogger(__name__)


@bp.route("/account/password", methods=["GET", "POST"])
@sessions.reauth_required  # a stolen session cookie alone cannot reach it
def account_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    keys = throttle.keys_for(current_user.email, current_user.id)
    if form.validate_on_submit():
        throttle.hold(keys)  # a wrong current password counts like a failed sign-in
        if throttle.wait_seconds(keys) > 0:
            throttle.refused(keys, current_user.id)
            form.current.errors = ["Too many failed attempts. Wait a few minutes, then try again."]
            return render_template(
                "admin/account_password.html", form=form, min_length=MIN_LENGTH
            ), 429
        try:
            service.change_password(current_user, form.current.data or "", form.password.data or "")
        except PasswordRefused as exc:
            form.password.errors = [str(exc)]
        except service.AccountError as exc:
            throttle.failed(keys, current_user.id, "password_change")
            form.current.errors = [str(exc)]
        else:
            audit.record("account_password", editor_id=current_user.id)
            # Every other session of this editor ends and every browser is forgotten; this
            # browser gets a fresh session and is trusted again (it just gave everything).
            sessions.revoke_all(current_user.id)
            sessions.log_in(current_user._get_current_object())
            devices.remember(current_user.id)
            notify_editor(current_user.id, "password")  # commits
            logger.info("editor %s changed their password", current_user.id)
            flash(
                _(
                    "Your password is changed; your other sessions have ended and your other"
                    " browsers are no longer trusted."
                )
            )
            return redirect(url_for("admin.dashboard"), 303)
    status = 422 if form.errors else 200
    return render_template("admin/account_password.html", form=form, min_length=MIN_LENGTH), status
