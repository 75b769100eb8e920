"""Admin (owners): the editors, their roles, invitations, disabling."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from mailer import audit
from mailer.accounts import service, sessions, totp
from mailer.admin import bp
from mailer.admin.account_forms import InviteForm, RoleForm
from mailer.extensions import db
from mailer.models import Editor, EditorInvite, Role
from mailer.privacy import InvalidAddress
from mailer.tasks import enqueue_after_commit
from mailer.tasks.accounts import notify_editor, send_editor_invite

logger = logging.getLogger(__name__)


def _page(
    form: InviteForm | None = None, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    editors = db.session.scalars(select(Editor).order_by(Editor.email)).all()
    return render_template(
        "admin/editors.html",
        editors=editors,
        invites=service.open_invites(),
        form=form or InviteForm(),
        role_form=RoleForm(),
        error=error,
    ), status


@bp.get("/editors")
def editors() -> ResponseReturnValue:
    return _page()


@bp.post("/editors/invite")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def invite_editor() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    try:
        invitation = service.invite(form.email.data or "", Role(form.role.data), current_user)
    except InvalidAddress:
        form.email.errors = ["Enter a valid email address, like name@example.org."]
        return _page(form, status=422)
    except service.AccountError as exc:
        form.email.errors = [str(exc)]
        return _page(form, status=409)
    audit.record(
        "invite_editor",
        editor_id=current_user.id,
        objects=("editor_invite", invitation.id),
        detail={"role": invitation.role.value},
    )
    if enqueue_after_commit(send_editor_invite, invitation.id):
        flash(_("Invitation sent to %(email)s.", email=invitation.email))
    else:
        flash(
            _("The invitation is saved but its mail could not be queued: revoke it and try again.")
        )
    logger.info("editor %s invited editor (invitation %s)", current_user.id, invitation.id)
    return redirect(url_for("admin.editors"), 303)


@bp.post("/editors/invites/<int:invite_id>/revoke")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def revoke_invite(invite_id: int) -> ResponseReturnValue:
    invitation = db.session.get(EditorInvite, invite_id) or abort(404)
    service.revoke(invitation)
    audit.record("revoke_invite", editor_id=current_user.id, objects=("editor_invite", invite_id))
    db.session.commit()
    flash(_("Invitation revoked: its link no longer works."))
    return redirect(url_for("admin.editors"), 303)


def _editor(editor_id: int) -> Editor:
    return db.session.get(Editor, editor_id) or abort(404)


@bp.post("/editors/<int:editor_id>/role")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def change_role(editor_id: int) -> ResponseReturnValue:
    editor = _editor(editor_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _page(error="Choose a role.", status=422)
    try:
        old = service.set_role(editor, Role(form.role.data))
    except service.LastOwner as exc:
        db.session.rollback()
        return _page(error=str(exc), status=409)
    audit.record(
        "change_role",
        editor_id=current_user.id,
        objects=("editor", editor_id),
        detail={"from": old.value, "to": editor.role.value},
    )
    db.session.commit()
    flash(_("%(email)s is now %(role)s.", email=editor.email, role=editor.role.value))
    return redirect(url_for("admin.editors"), 303)


@bp.post("/editors/<int:editor_id>/disable")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def disable_editor(editor_id: int) -> ResponseReturnValue:
    editor = _editor(editor_id)
    try:
        service.disable(editor, by=current_user.id)
    except service.LastOwner as exc:
        db.session.rollback()
        return _page(error=str(exc), status=409)
    sessions.revoke_all(editor.id)
    audit.record("disable_editor", editor_id=current_user.id, objects=("editor", editor_id))
    db.session.commit()
    flash(
        _(
            "%(email)s is disabled: no login, and every open session has ended.",
            email=editor.email,
        )
    )
    return redirect(url_for("admin.editors"), 303)


@bp.post("/editors/<int:editor_id>/enable")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def enable_editor(editor_id: int) -> ResponseReturnValue:
    editor = _editor(editor_id)
    service.enable(editor)
    audit.record("enable_editor", editor_id=current_user.id, objects=("editor", editor_id))
    db.session.commit()
    flash(_("%(email)s can log in again.", email=editor.email))
    return redirect(url_for("admin.editors"), 303)


@bp.post("/editors/<int:editor_id>/reset-2fa")
@sessions.reauth_required(back=lambda **_: url_for("admin.editors"))
def reset_second_factor(editor_id: int) -> ResponseReturnValue:
    """An editor lost the phone and the recovery codes: no second factor, no session left;
    with ADMIN_2FA=required they enrol again at the next sign-in."""
    editor = _editor(editor_id)
    totp.reset(editor, by=current_user.id)
    audit.record("reset_2fa", editor_id=current_user.id, objects=("editor", editor_id))
    notify_editor(editor_id, "second_factor_reset")  # commits
    logger.info("editor %s reset the second factor of editor %s", current_user.id, editor_id)
    flash(
        _(
            "%(email)s: two-factor authentication removed and every session ended.",
            email=editor.email,
        )
    )
    return redirect(url_for("admin.editors"), 303)
