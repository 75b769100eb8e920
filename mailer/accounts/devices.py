"""Device cookies (OWASP's "slow down online guessing attacks with device cookies").

After a complete sign-in (password and, when asked, the second factor) the browser gets a
long-lived cookie naming that editor and a random nonce, signed with a key derived for this
purpose only; it holds no address. A sign-in attempt that presents a valid device cookie
for the editor whose address was typed is a "trusted" one: its failures count against that
device only (throttle key "d:<hash of the nonce>"), and the account's lock, which any
stranger can set off by guessing, does not apply to it. After LOGIN_LOCK_AFTER failures the
device is locked too, and while it is locked its cookie is ignored (the attempt is then an
untrusted one, with the account's and the network's locks). A device cookie only decides
which throttle counts: the password and the second factor are asked as always.

A cookie is bound to the editor's credentials as they were when it was issued (a keyed hash
of the password hash, the second factor's secret and the disabled mark): a new password, a
reset or new second factor, or disabling the account makes every device cookie of that
editor worthless, with no table to keep.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import after_this_request, current_app, request
from flask.wrappers import Response
from itsdangerous import BadData, URLSafeTimedSerializer

from mailer.extensions import db
from mailer.keys import derived_key, derived_keys
from mailer.models import Editor

COOKIE = "editor_device"
PATH = "/admin"
MAX_AGE = timedelta(days=180)
_SALT = "mailer.editor-device"


def _serializer(keys: list[bytes]) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any of them.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=_SALT)


def _credentials(editor_id: int) -> str | None:
    """A keyed hash of what a device cookie stays good for: the editor's password hash,
    second factor and active state. None for no such editor."""
    editor = db.session.get(Editor, editor_id)
    if editor is None:
        return None
    state = f"{editor.id}|{editor.password_hash}|{editor.totp_secret or ''}|{editor.disabled_at}"
    mac = hmac.new(derived_key("editor-device"), state.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def make_cookie_value(editor_id: int, nonce: str) -> str:
    data = {"e": editor_id, "n": nonce, "v": _credentials(editor_id)}
    return str(_serializer([derived_key("editor-device")]).dumps(data))


def presented_nonce(editor_id: int | None) -> str | None:
    """The nonce of this request's device cookie if it is genuine, recent and `editor_id`'s."""
    value = request.cookies.get(COOKIE)
    if editor_id is None or not value or len(value) > 512:
        return None
    try:
        data = _serializer(derived_keys("editor-device")).loads(
            value, max_age=int(MAX_AGE.total_seconds())
        )
    except (BadData, UnicodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    if data.get("e") != editor_id:
        return None  # a device cookie of editor A does nothing for editor B
    current = _credentials(editor_id)
    if current is None or not hmac.compare_digest(str(data.get("v", "")), current):
        return None  # issued before a new password, second factor or disabling
    return str(data["n"])


def throttle_key(nonce: str) -> str:
    """The login_throttle key of a device: a keyed hash of its nonce, never the nonce."""
    mac = hmac.new(derived_key("login-throttle"), b"device:" + nonce.encode(), hashlib.sha256)
    return "d:" + mac.hexdigest()[:40]


def remember(editor_id: int) -> None:
    """After a complete sign-in: (re)issue this browser's device cookie for the editor.

    A browser that already holds one for the editor keeps its nonce (and so its throttle
    row); another editor's cookie is replaced.
    """
    nonce = presented_nonce(editor_id) or secrets.token_urlsafe(18)
    value = make_cookie_value(editor_id, nonce)
    secure = str(current_app.config["BASE_URL"]).startswith("https://")

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(MAX_AGE.total_seconds()),
            path=PATH,
            secure=secure,
            httponly=True,
            samesite="Strict",
        )
        return response
