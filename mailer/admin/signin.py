"""Admin sign-in: password, then the second factor (or enrolment), re-authentication, logout.

Failures are throttled per account and per network, or per device for a browser holding the
editor's device cookie (mailer/accounts/throttle.py, devices.py); an unknown address is
answered, timed and throttled exactly like a known one.
"""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from mailer import audit
from mailer.accounts import devices, policy, sessions, throttle, totp
from mailer.admin import auth, bp
from mailer.admin.enrolment import enrolment_page, recovery_codes_page
from mailer.admin.forms import CodeForm, LoginForm, ReauthForm
from mailer.extensions import db, limiter
from mailer.models import Editor
from mailer.tasks.accounts import notify_editor

logger = logging.getLogger(__name__)

NO_MATCH = "That email address and password do not match an editor."
TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
BAD_CODE = "That code is not valid, or it was already used. Type the code the app shows now."


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _signed_in(editor: Editor, keys: throttle.Keys, target: str) -> ResponseReturnValue:
    throttle.succeeded(keys)
    sessions.log_in(editor)
    devices.remember(editor.id)
    audit.login_attempt(editor)
    db.session.commit()
    logger.info("editor %s logged in", editor.id)
    return redirect(target, 303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form), 422 if form.errors else 200
    email = form.email.data or ""
    editor = auth.find_editor(email)
    editor_id = editor.id if editor else None
    keys = throttle.keys_for(email, editor_id)  # this editor's device cookie: trusted
    throttle.hold(keys)  # until this attempt's verdict is committed
    if throttle.wait_seconds(keys) > 0:
        throttle.refused(keys, editor_id)
        form.password.errors = [TOO_MANY]
        return render_template("admin/login.html", form=form), 429
    # Same cost if unknown; a browser with this editor's device cookie has a kept slot.
    correct = auth.check_password(editor, form.password.data or "", keys.device is not None)
    if editor is None or not correct:
        throttle.failed(keys, editor_id, "password")
        form.password.errors = [NO_MATCH]
        return render_template("admin/login.html", form=form), 422
    target = auth.safe_target(request.args.get("next"))
    mode = policy.second_factor_mode()
    if mode == "off" or (mode == "optional" and not editor.has_second_factor):
        return _signed_in(editor, keys, target)
    sessions.begin_pending(editor, target)
    db.session.commit()  # a rehashed password
    step = "admin.login_code" if editor.has_second_factor else "admin.login_enrol"
    return redirect(url_for(step), 303)


def _start_again() -> ResponseReturnValue:
    if current_user.is_authenticated:  # signed in already: a stale or bookmarked step
        return redirect(url_for("admin.dashboard"), 303)
    session.clear()
    flash(_("Log in again: that sign-in took too long."))
    return redirect(url_for("admin.login"), 303)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_code() -> ResponseReturnValue:
    found = sessions.pending()
    if found is None or not found[0].has_second_factor:
        return _start_again()
    editor, mark = found
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("admin/login_code.html", form=form), 422 if form.errors else 200
    keys = throttle.keys_for(editor.email, editor.id)
    throttle.hold(keys)  # until this attempt's verdict is committed
    if throttle.wait_seconds(keys) > 0:
        throttle.refused(keys, editor.id)
        form.code.errors = [TOO_MANY]
        return render_template("admin/login_code.html", form=form), 429
    if not totp.verify(editor, form.code.data or ""):
        throttle.failed(keys, editor.id, "second_factor")
        form.code.errors = [BAD_CODE]
        return render_template("admin/login_code.html", form=form), 422
    return _signed_in(editor, keys, auth.safe_target(str(mark.get("next") or "")))


@bp.route("/login/enrol", methods=["GET", "POST"])
def login_enrol() -> ResponseReturnValue:
    """ADMIN_2FA=required and no second factor yet: enrol now, before any admin page."""
    found = sessions.pending()
    if found is None or found[0].has_second_factor:
        return _start_again()
    editor, mark = found
    target = auth.safe_target(str(mark.get("next") or ""))

    def done(codes: list[str]) -> ResponseReturnValue:
        throttle.succeeded(throttle.keys_for(editor.email, editor.id))
        sessions.log_in(editor)
        devices.remember(editor.id)
        audit.login_attempt(editor)
        audit.record("enrol_2fa", editor_id=editor.id)
        notify_editor(editor.id, "second_factor")  # commits
        logger.info("editor %s enrolled a second factor and logged in", editor.id)
        return recovery_codes_page(codes, target)

    return enrolment_page(editor, done)


@bp.route("/reauth", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def reauth() -> ResponseReturnValue:
    """Password and second factor again, before export, erase, confirmed import..."""
    editor: Editor = current_user._get_current_object()
    needs_code = editor.has_second_factor and policy.second_factor_mode() != "off"
    form = ReauthForm()
    target = auth.safe_target(request.args.get("next"))
    status = 200
    if form.validate_on_submit():
        keys = throttle.keys_for(editor.email, editor.id)
        throttle.hold(keys)  # until this attempt's verdict is committed
        if throttle.wait_seconds(keys) > 0:
            throttle.refused(keys, editor.id)
            form.password.errors = [TOO_MANY]
            status = 429
        elif auth.check_password(editor, form.password.data or "", keys.device is not None) and (
            not needs_code or totp.verify(editor, form.code.data or "")
        ):
            sessions.reauthenticated()
            throttle.succeeded(keys)
            db.session.commit()
            logger.info("editor %s re-authenticated", editor.id)
            return redirect(target, 303)
        else:
            throttle.failed(keys, editor.id, "reauth")
            form.password.errors = [
                "The password or the code is wrong." if needs_code else "The password is wrong."
            ]
            status = 422
    elif form.errors:
        status = 422
    return render_template("admin/reauth.html", form=form, needs_code=needs_code), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Logging out ends every session of the editor, on every device."""
    editor_id = current_user.id
    sessions.revoke_all(editor_id)
    db.session.commit()
    logout_user()
    session.clear()
    sessions.forget_cookie()
    logger.info("editor %s logged out", editor_id)
    flash(_("You are logged out."))
    return redirect(url_for("admin.login"), 303)
