"""Editor accounts: password checks (argon2, with mailer.accounts.passwords' one hasher),
Flask-Login on top of server-side sessions, the login-required guard (and, with
ADMIN_2FA=required, the enrol-first guard).

The second factor, the sign-in throttle and the sessions themselves live in mailer/accounts/.
"""

from __future__ import annotations

import functools

from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import LoginManager, current_user
from sqlalchemy import func, select

from mailer.accounts import device_store, devices, gate, passwords, policy, sessions
from mailer.extensions import db
from mailer.models import Editor

login_manager = LoginManager()

# Reachable without a session: the sign-in steps (each checks its own state).
OPEN_ENDPOINTS = frozenset({"admin.login", "admin.login_code", "admin.login_enrol"})
# Reachable by a signed-in editor who must still enrol (ADMIN_2FA=required).
ENROL_ENDPOINTS = frozenset(
    {
        "admin.account",
        "admin.account_enrol",
        "admin.reauth",
        "admin.logout",
        "admin.logout_everywhere",
    }
)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the address is unknown, so a wrong address costs what a wrong password does.

    Made at the first login, not at import: every command and worker imports this module.
    """
    return passwords.HASHER.hash("not a real password")


MIN_PASSWORD_LENGTH = 12


class WeakPassword(ValueError):
    """The password is too short to protect subscribers' data."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    return passwords.HASHER.hash(password)


def find_editor(email: str) -> Editor | None:
    if "\x00" in email:  # no address holds one, and PostgreSQL refuses it in a query
        return None
    return db.session.scalar(
        select(Editor).where(func.lower(Editor.email) == email.strip().lower())
    )


def check_password(editor: Editor | None, password: str, trusted: bool = False) -> bool:
    """The password is the editor's (same cost when the editor is None: always False).
    `trusted`: the attempt comes with the editor's device cookie (a kept check slot)."""
    hasher = passwords.HASHER
    with gate.password_check(trusted):
        try:
            hasher.verify(editor.password_hash if editor else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return False
        if editor is None or not editor.is_active:  # a disabled editor cannot log in
            return False
        if hasher.check_needs_rehash(editor.password_hash):
            editor.password_hash = hasher.hash(password)
    return True


def authenticate(email: str, password: str) -> Editor | None:
    """The editor with this address and password, or None (same cost either way)."""
    editor = find_editor(email)
    return editor if check_password(editor, password) else None


def create_editor(email: str, password: str) -> Editor:
    """Create an editor, or set the password of an existing one (ending their sessions and
    forgetting their trusted browsers)."""
    address = email.strip().lower()
    editor = db.session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        editor = Editor(email=address, password_hash=hash_password(password))
        db.session.add(editor)
    else:
        editor.password_hash = hash_password(password)
        sessions.revoke_all(editor.id)
        device_store.forget_all(editor.id, by=None, reason="password")
    db.session.flush()
    return editor


def safe_target(target: str | None) -> str:
    """Only a local admin path: never bounce an editor to another site after a sign-in."""
    target = target or ""
    if not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return url_for("admin.dashboard")
    return target


@login_manager.user_loader
def load_editor(editor_id: str) -> Editor | None:
    return sessions.load_editor(editor_id)


def require_login() -> ResponseReturnValue | None:
    """Before every /admin request: no valid session, the login page; not enrolled while
    2FA is required, the enrolment page."""
    if request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated and _arrived_from_another_site():
        # The Strict admin cookie was not sent: reload from our own page, which sends it.
        return (
            render_template("admin/same_site.html", target=_same_path()),
            200,
            {"Cache-Control": "no-store"},
        )
    if not current_user.is_authenticated:
        if session.get("_user_id") is not None:
            session.clear()
            flash(_("Your session has ended. Log in again."))
        # Not request.full_path: it ends in a bare "?" when there is no query string.
        query = request.query_string.decode("latin-1")
        here = f"{request.path}?{query}" if query else request.path
        return redirect(url_for("admin.login", next=here if request.method == "GET" else None))
    if (
        policy.second_factor_mode() == "required"
        and not current_user.has_second_factor
        and request.endpoint not in ENROL_ENDPOINTS
    ):
        return redirect(url_for("admin.account_enrol"))
    return None


def note_trusted_browser() -> None:
    """After the access checks: a trusted browser in use is marked so (at most hourly)."""
    if current_user.is_authenticated:
        devices.seen(current_user.id)


def _arrived_from_another_site() -> bool:
    """A link followed from another site (a webmail): the browser withheld the admin's
    SameSite=Strict cookie, which a navigation started from our own page will send."""
    return (
        request.method in ("GET", "HEAD")
        and request.headers.get("Sec-Fetch-Site") == "cross-site"
        and not sessions.has_cookie()
    )


def _same_path() -> str:
    return safe_target(request.full_path.rstrip("?"))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # The server-side session check replaces Flask-Login's IP binding, which trusted a raw
    # X-Forwarded-For (audit M1); no remember-me cookie is ever set.
    login_manager.session_protection = None
    login_manager.login_view = "admin.login"
