"""Editor management: invitations (one-time, expiring links), roles, disabling, passwords.

The rule every change keeps: at least one active owner remains, so the admin can never be
left with nobody able to manage editors (the operator's `mailer create-editor` still can).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from mailer import clock
from mailer.accounts import device_store, passwords
from mailer.extensions import db
from mailer.models import Editor, EditorInvite, Role
from mailer.privacy import normalise_email
from mailer.tokens import ExpiredToken, InvalidToken, make_token, read_token

INVITE_PURPOSE = "editor-invite"


class AccountError(ValueError):
    """A change refused; the message is for the owner who asked."""


class LastOwner(AccountError):
    """The change would leave no active owner."""


class InviteInvalid(AccountError):
    """The invitation link is unknown, used, revoked or expired."""


def invite_max_age() -> timedelta:
    return timedelta(hours=float(current_app.config["EDITOR_INVITE_MAX_AGE_HOURS"]))


def find_editor(email: str) -> Editor | None:
    return db.session.scalar(select(Editor).where(func.lower(Editor.email) == email.lower()))


def invite(email: str, role: Role, invited_by: Editor | None) -> EditorInvite:
    """A new invitation (older open ones for the address are revoked). Raises InvalidAddress."""
    address = normalise_email(email)
    if find_editor(address) is not None:
        raise AccountError("There is already an editor with this address.")
    now = clock.now()
    for older in open_invites(address):
        older.revoked_at = now
    created = EditorInvite(
        email=address,
        role=role,
        nonce=secrets.token_urlsafe(24),
        invited_by_id=invited_by.id if invited_by else None,
        created_at=now,
        expires_at=now + invite_max_age(),
    )
    db.session.add(created)
    db.session.flush()
    return created


def open_invites(email: str | None = None) -> list[EditorInvite]:
    query = select(EditorInvite).where(
        EditorInvite.accepted_at.is_(None),
        EditorInvite.revoked_at.is_(None),
        EditorInvite.expires_at > clock.now(),
    )
    if email is not None:
        query = query.where(EditorInvite.email == email)
    return list(db.session.scalars(query.order_by(EditorInvite.id)))


def invite_token(invitation: EditorInvite) -> str:
    return make_token(INVITE_PURPOSE, {"i": invitation.id, "n": invitation.nonce})


def open_invite(token: str) -> EditorInvite:
    """The open invitation a link names; raises InviteInvalid (used, revoked, expired, forged)."""
    try:
        data = read_token(INVITE_PURPOSE, token, max_age=invite_max_age())
    except (InvalidToken, ExpiredToken):
        raise InviteInvalid("This invitation link is not valid.") from None
    invitation = (
        db.session.get(EditorInvite, data.get("i")) if isinstance(data.get("i"), int) else None
    )
    if (
        invitation is None
        or not hmac.compare_digest(str(data.get("n", "")), invitation.nonce)
        or not invitation.is_open
        or invitation.expires_at <= clock.now()
    ):
        raise InviteInvalid("This invitation link is not valid.")
    return invitation


def accept(token: str, password: str) -> Editor:
    """Create the invited editor with this password; the link works once. Raises
    InviteInvalid or passwords.PasswordRefused (the link then still works)."""
    invitation = open_invite(token)
    password_hash = passwords.hash_password(password)
    if find_editor(invitation.email) is not None:
        raise InviteInvalid("There is already an editor with this address.")
    editor = Editor(email=invitation.email, password_hash=password_hash, role=invitation.role)
    db.session.add(editor)
    db.session.flush()
    invitation.accepted_at = clock.now()
    invitation.editor_id = editor.id
    return editor


def revoke(invitation: EditorInvite) -> None:
    if invitation.is_open:
        invitation.revoked_at = clock.now()


def _other_active_owners(editor: Editor) -> int:
    # FOR UPDATE (PostgreSQL): two owners demoting each other at once cannot both pass.
    rows = db.session.scalars(
        select(Editor.id)
        .where(Editor.role == Role.owner, Editor.disabled_at.is_(None), Editor.id != editor.id)
        .with_for_update()
    ).all()
    return len(rows)


def _keep_an_owner(editor: Editor) -> None:
    if editor.role == Role.owner and editor.is_active and _other_active_owners(editor) == 0:
        raise LastOwner("This is the last active owner: make another editor an owner first.")


def set_role(editor: Editor, role: Role) -> Role:
    """Change the editor's role; returns the old one. Raises LastOwner."""
    old = editor.role
    if role != Role.owner:
        _keep_an_owner(editor)
    editor.role = role
    return old


def disable(editor: Editor, by: int | None = None) -> None:
    """No more logins, every open session of the editor ends at its next request, and no
    browser of theirs stays trusted. `by`: the owner who disables."""
    _keep_an_owner(editor)
    if editor.disabled_at is None:
        editor.disabled_at = clock.now()
    device_store.forget_all(editor.id, by=by, reason="disabled")


def enable(editor: Editor) -> None:
    editor.disabled_at = None


def change_password(editor: Editor, current: str, new: str) -> None:
    """Raises AccountError (wrong current password) or passwords.PasswordRefused. Every
    browser of the editor stops being trusted."""
    if not passwords.verify(editor.password_hash, current):
        raise AccountError("The current password is not right.")
    if new == current:
        raise passwords.PasswordRefused("Choose a password different from the current one.")
    editor.password_hash = passwords.hash_password(new)
    device_store.forget_all(editor.id, by=editor.id, reason="password")
