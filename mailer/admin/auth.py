"""Editor accounts: argon2 password hashes, Flask-Login sessions, the login-required guard."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import Editor, utcnow

login_manager = LoginManager()
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the address is unknown, so a wrong address costs what a wrong password does.

    Made at the first login, not at import: every command and worker imports this module.
    """
    return _hasher.hash("not a real password")


MIN_PASSWORD_LENGTH = 12


class WeakPassword(ValueError):
    """The password is too short to protect subscribers' data."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def authenticate(email: str, password: str) -> Editor | None:
    """The editor with this address and password, or None (same cost either way)."""
    editor = db.session.scalar(
        select(Editor).where(func.lower(Editor.email) == email.strip().lower())
    )
    try:
        _hasher.verify(editor.password_hash if editor else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if editor is None or not editor.is_active:  # a disabled editor cannot log in
        return None
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = _hasher.hash(password)
    return editor


def log_in(editor: Editor) -> None:
    """Start a fresh session for the editor: nothing from before the login survives."""
    session.clear()
    login_user(editor)
    editor.last_login_at = utcnow()


def create_editor(email: str, password: str) -> Editor:
    """Create an editor, or set the password of an existing one."""
    address = email.strip().lower()
    editor = db.session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        editor = Editor(email=address, password_hash=hash_password(password))
        db.session.add(editor)
    else:
        editor.password_hash = hash_password(password)
    db.session.flush()
    return editor


@login_manager.user_loader
def load_editor(editor_id: str) -> Editor | None:
    return db.session.get(Editor, int(editor_id)) if editor_id.isdigit() else None


def require_login() -> ResponseReturnValue | None:
    """Before every /admin request: a logged-out request goes to the login page."""
    if request.endpoint in ("admin.login", None) or current_user.is_authenticated:
        return None
    return redirect(
        url_for("admin.login", next=request.full_path if request.method == "GET" else None)
    )


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "admin.login"
