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

A cookie counts only while its trusted_device row exists (device_store.py): the editor can
forget one browser on the Account page. It is also bound to the editor's credentials as
they were when it was issued (a keyed hash of the password hash, the second factor's secret
and the disabled mark), so a new password, second factor or disabling voids it even where
a row was missed.

The cookie is `__Host-editor_device` over https (Secure, Path=/, no Domain: no other host
or path can set or shadow it) and `editor_device` over plain http (development, tests), as
the admin's session cookie is. HttpOnly, SameSite=Strict, 180 days from its last use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import after_this_request, request
from flask.wrappers import Response
from itsdangerous import BadData, URLSafeTimedSerializer

from mailer import clock
from mailer.accounts import device_store, sessions, user_agent
from mailer.extensions import db
from mailer.keys import derived_key, derived_keys
from mailer.models import Editor, TrustedDevice

COOKIE_HTTPS = "__Host-editor_device"
COOKIE_HTTP = "editor_device"
LEGACY_PATH = "/admin"  # where the cookie lived before trusted_device: dropped on sight
MAX_AGE = device_store.MAX_AGE
_SALT = "mailer.editor-device"


def cookie_name() -> str:
    return COOKIE_HTTPS if sessions.over_https() else COOKIE_HTTP


def _serializer(keys: list[bytes]) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any of them.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=_SALT)


def _credentials(editor_id: int, keys: list[bytes]) -> list[str]:
    """Keyed hashes (one per key) of what a device cookie stays good for: the editor's
    password hash, second factor and active state. Empty for no such editor."""
    editor = db.session.get(Editor, editor_id)
    if editor is None:
        return []
    state = f"{editor.id}|{editor.password_hash}|{editor.totp_secret or ''}|{editor.disabled_at}"
    return [hmac.new(key, state.encode(), hashlib.sha256).hexdigest()[:32] for key in keys]


def make_cookie_value(editor_id: int, nonce: str) -> str:
    key = derived_key("editor-device")
    bound = next(iter(_credentials(editor_id, [key])), None)
    return str(_serializer([key]).dumps({"e": editor_id, "n": nonce, "v": bound}))


def _genuine_nonce(value: str, editor_id: int) -> str | None:
    """The nonce of a cookie value if it is genuine, recent, `editor_id`'s and bound to the
    editor's current credentials."""
    if not value or len(value) > 512:
        return None
    keys = derived_keys("editor-device")  # SECRET_KEY's, then each fallback's
    try:
        data = _serializer(keys).loads(value, max_age=int(MAX_AGE.total_seconds()))
    except (BadData, UnicodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    if data.get("e") != editor_id:
        return None  # a device cookie of editor A does nothing for editor B
    bound = str(data.get("v", ""))
    if not any(hmac.compare_digest(bound, c) for c in _credentials(editor_id, keys)):
        return None  # issued before a new password, second factor or disabling
    return str(data["n"])


def _presented(editor_id: int | None) -> tuple[str, TrustedDevice] | None:
    """This request's device cookie for `editor_id` and its row, if both hold."""
    if editor_id is None:
        return None
    # Over http an old cookie at Path=/admin may come too (the more specific path first).
    for value in request.cookies.getlist(cookie_name())[:3]:
        nonce = _genuine_nonce(value, editor_id)
        device = device_store.find(editor_id, nonce) if nonce is not None else None
        if nonce is not None and device is not None:
            return nonce, device
    return None


def presented_nonce(editor_id: int | None) -> str | None:
    """The nonce of this request's device cookie if it is genuine, recent, `editor_id`'s and
    not forgotten (its row exists)."""
    found = _presented(editor_id)
    return found[0] if found else None


def current_device_id(editor_id: int) -> int | None:
    """The trusted_device id of this browser, for the Account page's "this browser"."""
    found = _presented(editor_id)
    return found[1].id if found else None


def throttle_key(nonce: str) -> str:
    """The login_throttle key of a device: a keyed hash of its nonce, never the nonce."""
    mac = hmac.new(derived_key("login-throttle"), b"device:" + nonce.encode(), hashlib.sha256)
    return "d:" + mac.hexdigest()[:40]


def remember(editor_id: int) -> None:
    """After a complete sign-in: trust this browser for the editor (a row and a cookie).

    A browser already trusted for the editor keeps its nonce (and so its throttle row and
    its place in the list); a forgotten one, or another editor's, gets a new nonce and row.
    """
    now = clock.now()
    label = user_agent.coarse_label(request.headers.get("User-Agent"))
    found = _presented(editor_id)
    if found is None:
        nonce = secrets.token_urlsafe(18)
        device_store.add(editor_id, nonce, label, now)
    else:
        nonce = found[0]
        device_store.signed_in_again(found[1], nonce, label, now)
    _set_cookie(make_cookie_value(editor_id, nonce), drop_legacy=True)


def seen(editor_id: int) -> None:
    """A signed-in editor's request: a trusted browser is marked used, at most once an hour,
    and its cookie's 180 days start again then."""
    found = _presented(editor_id)
    if found is not None and device_store.touch(found[1], clock.now()):
        db.session.commit()
        _set_cookie(make_cookie_value(editor_id, found[0]))


def forget_cookie() -> None:
    """This browser was forgotten: it drops its cookie too."""
    _set_cookie(None)


def _set_cookie(value: str | None, drop_legacy: bool = False) -> None:
    """Set (a value) or delete (None) this browser's device cookie on the response; at a
    sign-in, also the one from before trusted_device (Path=/admin), if any came."""
    name, secure = cookie_name(), sessions.over_https()
    legacy = drop_legacy and COOKIE_HTTP in request.cookies

    @after_this_request
    def write(response: Response) -> Response:
        if legacy:  # a cookie from before __Host- and Path=/ (it had Path=/admin)
            response.delete_cookie(COOKIE_HTTP, path=LEGACY_PATH, secure=secure, httponly=True)
        if value is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Strict")
        else:
            response.set_cookie(
                name,
                value,
                max_age=int(MAX_AGE.total_seconds()),
                path="/",
                secure=secure,
                httponly=True,
                samesite="Strict",
            )
        return response
