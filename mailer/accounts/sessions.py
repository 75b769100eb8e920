"""Server-side admin sessions: revocable, with idle and absolute timeouts, and re-auth.

The admin's own cookie (`__Host-admin_session` over https, `admin_session` over http;
HttpOnly, SameSite=Strict, audit M1) holds a random id; editor_session holds its SHA-256
hash, checked on every admin request (Flask-Login's user loader): a revoked, idle or too
old session is no session, whatever the cookie says or where it comes from. Being Strict,
no other site can make the browser send it, not even with a link; an editor arriving from
another site (a webmail) is reloaded once from our own page (auth.require_login). Flask's
own session cookie (Lax: the public forms' CSRF token) holds no credential of the admin.
Flask-Login's remember-me cookie and its IP binding are not used. Between the password
and the second factor Flask's session holds only a "pending" mark (editor id, time, where
to go next), valid PENDING_MAX_AGE.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from blinker import Namespace
from flask import after_this_request, current_app, flash, g, redirect, request, session, url_for
from flask.wrappers import Response
from flask_babel import gettext as _
from flask_login import login_user
from sqlalchemy import select, update

from mailer import clock
from mailer.accounts import policy
from mailer.extensions import db
from mailer.models import Editor, EditorSession

logger = logging.getLogger(__name__)
# Sent (sender: the app, editor_id=...) when every session of an editor has just ended:
# whatever is kept for the editor's sessions alone goes too (their subscriber searches).
every_session_ended = Namespace().signal("every-session-ended")

ADMIN_COOKIE_HTTPS = "__Host-admin_session"  # __Host-: Secure, Path=/, no Domain
ADMIN_COOKIE_HTTP = "admin_session"
PENDING_KEY = "pending_sign_in"
PENDING_MAX_AGE = timedelta(minutes=5)
TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def log_in(editor: Editor) -> None:
    """Start a fresh session for the editor: nothing from before the sign-in survives."""
    now = clock.now()
    session.clear()
    sid = secrets.token_urlsafe(32)
    db.session.add(
        EditorSession(
            id_hash=_hash(sid),
            editor_id=editor.id,
            created_at=now,
            last_seen_at=now,
            authenticated_at=now,
        )
    )
    g.admin_sid = sid  # this request's own session from now on
    _set_cookie(sid)
    login_user(editor)
    editor.last_login_at = now


def over_https() -> bool:
    """BASE_URL is https: the admin's cookies are then __Host- prefixed and Secure."""
    return str(current_app.config["BASE_URL"]).startswith("https://")


def cookie_name() -> str:
    return ADMIN_COOKIE_HTTPS if over_https() else ADMIN_COOKIE_HTTP


def has_cookie() -> bool:
    return cookie_name() in request.cookies


def _set_cookie(sid: str | None) -> None:
    """Set (a sid) or delete (None) the admin's cookie on this request's response."""
    name, secure = cookie_name(), over_https()

    @after_this_request
    def write(response: Response) -> Response:
        if sid is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Strict")
        else:
            response.set_cookie(
                name, sid, path="/", secure=secure, httponly=True, samesite="Strict"
            )
        return response


def forget_cookie() -> None:
    """Logging out: the browser drops the admin's cookie (the server has revoked it)."""
    g.admin_sid = None
    _set_cookie(None)


def _valid(row: EditorSession | None, now: datetime) -> bool:
    return (
        row is not None
        and row.revoked_at is None
        and now - row.last_seen_at < policy.idle_timeout()
        and now - row.created_at < policy.absolute_timeout()
    )


def current() -> EditorSession | None:
    """This request's valid session record, or None."""
    sid = g.admin_sid if "admin_sid" in g else request.cookies.get(cookie_name())
    if not isinstance(sid, str) or not sid or len(sid) > 128:
        return None
    row = db.session.get(EditorSession, _hash(sid))
    return row if _valid(row, clock.now()) else None


def load_editor(editor_id: str) -> Editor | None:
    """Flask-Login's user loader: the editor only if the server-side session still holds."""
    row = current()
    if row is None or str(row.editor_id) != editor_id:
        return None
    now = clock.now()
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return db.session.get(Editor, row.editor_id)


def revoke_all(editor_id: int, keep_this_one: bool = False) -> int:
    """End every session of the editor (logout, password change, 2FA reset, everywhere);
    `keep_this_one`: all but this request's own (a browser forgotten from this one)."""
    statement = update(EditorSession).where(
        EditorSession.editor_id == editor_id, EditorSession.revoked_at.is_(None)
    )
    this_one = current() if keep_this_one else None
    if this_one is not None:
        statement = statement.where(EditorSession.id_hash != this_one.id_hash)
    result = db.session.execute(
        statement.values(revoked_at=clock.now()).execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    logger.info("editor %s: %s session(s) revoked", editor_id, count)
    if this_one is None:
        every_session_ended.send(current_app._get_current_object(), editor_id=editor_id)  # type: ignore[attr-defined]
    return count


def active_count(editor_id: int) -> int:
    now = clock.now()
    rows = db.session.scalars(
        select(EditorSession).where(
            EditorSession.editor_id == editor_id, EditorSession.revoked_at.is_(None)
        )
    )
    return sum(1 for row in rows if _valid(row, now))


# --- between the password and the second factor -----------------------------------------


def begin_pending(editor: Editor, target: str) -> None:
    session.clear()
    session[PENDING_KEY] = {
        "editor": editor.id,
        "at": clock.now().timestamp(),
        "next": target,
    }


def pending() -> tuple[Editor, dict[str, Any]] | None:
    """The editor who gave the right password in the last few minutes, and the mark."""
    mark = session.get(PENDING_KEY)
    if not isinstance(mark, dict) or not isinstance(mark.get("editor"), int):
        return None
    age = clock.now().timestamp() - float(mark.get("at") or 0)
    if not 0 <= age <= PENDING_MAX_AGE.total_seconds():
        return None
    editor = db.session.get(Editor, mark["editor"])
    # Disabled between the password and the code: the sign-in ends here.
    return (editor, mark) if editor is not None and editor.is_active else None


# --- re-authentication --------------------------------------------------------------------


def reauthenticated() -> None:
    row = current()
    if row is not None:
        row.authenticated_at = clock.now()


def recently_authenticated() -> bool:
    row = current()
    return row is not None and clock.now() - row.authenticated_at <= policy.reauth_window()


F = TypeVar("F", bound=Callable[..., Any])


def reauth_required(
    view: F | None = None,
    *,
    when: Callable[[], bool] | None = None,
    back: Callable[..., str] | None = None,
) -> Any:
    """Ask for the password and second factor again unless given in the last few minutes.

    `when` limits it to some requests (a confirmed import); `back` gives the page to return
    to after a refused POST (its form is then sent again by the editor), from the view's
    arguments. A GET returns to itself.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if (when is None or when()) and not recently_authenticated():
                if request.method == "GET":
                    target = request.full_path.rstrip("?")
                else:
                    target = back(**kwargs) if back else url_for("admin.dashboard")
                flash(_("Confirm it is you: enter your password and a code again."))
                return redirect(url_for("admin.reauth", next=target), 303)
            return func(*args, **kwargs)

        return cast(F, wrapped)

    return decorate(view) if view is not None else decorate
