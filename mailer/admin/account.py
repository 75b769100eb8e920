"""Admin: the signed-in editor's own account: second factor, recovery codes, sessions."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from mailer import audit
from mailer.accounts import device_store, devices, policy, sessions, totp
from mailer.admin import bp
from mailer.admin.enrolment import enrolment_page, recovery_codes_page
from mailer.extensions import db
from mailer.models import Editor
from mailer.tasks.accounts import notify_editor

logger = logging.getLogger(__name__)


def _editor() -> Editor:
    editor: Editor = current_user._get_current_object()
    return editor


@bp.get("/account")
def account() -> ResponseReturnValue:
    editor = _editor()
    return render_template(
        "admin/account.html",
        editor=editor,
        mode=policy.second_factor_mode(),
        codes_left=totp.unused_recovery_codes(editor.id) if editor.has_second_factor else 0,
        active_sessions=sessions.active_count(editor.id),
        trusted=device_store.for_editor(editor.id),
        this_device=devices.current_device_id(editor.id),
    )


@bp.route("/account/2fa", methods=["GET", "POST"])
@sessions.reauth_required(back=lambda: url_for("admin.account_enrol"))
def account_enrol() -> ResponseReturnValue:
    editor = _editor()
    if editor.has_second_factor:
        flash(_("Two-factor authentication is already set up."))
        return redirect(url_for("admin.account"), 303)

    def done(codes: list[str]) -> ResponseReturnValue:
        audit.record("enrol_2fa", editor_id=editor.id)  # a 200 page: the hook skips it
        devices.remember(editor.id)  # enrolling forgot every browser: this one stays
        notify_editor(editor.id, "second_factor")  # commits
        logger.info("editor %s enrolled a second factor", editor.id)
        return recovery_codes_page(codes, url_for("admin.account"))

    return enrolment_page(editor, done)


@bp.post("/account/recovery-codes")
@sessions.reauth_required(back=lambda: url_for("admin.account"))
def account_recovery_codes() -> ResponseReturnValue:
    editor = _editor()
    if not editor.has_second_factor:
        flash(_("Set up two-factor authentication first."))
        return redirect(url_for("admin.account"), 303)
    codes = totp.replace_recovery_codes(editor)
    audit.record("recovery_codes", editor_id=editor.id)  # a 200 page: the hook skips it
    db.session.commit()
    logger.info("editor %s made new recovery codes", editor.id)
    return recovery_codes_page(codes, url_for("admin.account"))


@bp.post("/account/logout-everywhere")
def logout_everywhere() -> ResponseReturnValue:
    editor_id = _editor().id
    count = sessions.revoke_all(editor_id)
    db.session.commit()
    logout_user()
    session.clear()
    sessions.forget_cookie()
    logger.info("editor %s logged out everywhere", editor_id)
    flash(_("Logged out everywhere: %(count)s session(s) ended. Log in again.", count=count))
    return redirect(url_for("admin.login"), 303)
