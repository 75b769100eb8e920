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
forget one browser on the Account page, and a new password, second factor or disabling
forgets them all. The cookie is not tied to the password hash: an argon2 rehash at sign-in
(new library defaults) changes the hash, not the password (tests/test_trusted_devices_
credentials.py lists every path that writes a credential and what it forgets).

A new nonce at every complete sign-in and at each hourly renewal (the row's hash follows):
a copy of an older cookie matches no row. The cookie also names its row, so a browser
whose cookie no longer matches (it kept the losing tab's cookie of a renewal race) gets
its own row back at its next complete sign-in, not a second one. A renewal that finds its
row forgotten or renewed by another request changes nothing and sets no cookie: no clone
detection that could forget the owner's row on such a race.

The cookie is `__Host-editor_device` over https (Secure, Path=/, no Domain: no other host
or path can set or shadow it) and `editor_device` over plain http (development, tests), as
the admin's session cookie is. HttpOnly, SameSite=Strict, 180 days from its last use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import after_this_request, g, request
from flask.wrappers import Response
from itsdangerous import BadData, URLSafeTimedSerializer

from mailer import clock
from mailer.accounts import device_store, sessions, user_agent
from mailer.extensions import db
from mailer.keys import derived_key, derived_keys
from mailer.models import TrustedDevice

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


def make_cookie_value(editor_id: int, device_id: int, nonce: str) -> str:
    key = derived_key("editor-device")
    return str(_serializer([key]).dumps({"e": editor_id, "d": device_id, "n": nonce}))


def _genuine(value: str, editor_id: int) -> tuple[str, int | None] | None:
    """(nonce, the row it names) of a cookie value if it is genuine, recent and `editor_id`'s."""
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
    named = data.get("d")
    return str(data["n"]), named if isinstance(named, int) and not isinstance(named, bool) else None


def _cookies(editor_id: int) -> list[tuple[str, int | None]]:
    """This request's genuine device cookies for the editor; a nonce given by this very
    request (a renewal, a sign-in) first, as the browser will hold it."""
    issued = g.get("device_issued")
    found = [issued[1:]] if issued is not None and issued[0] == editor_id else []
    # Over http an old cookie at Path=/admin may come too (the more specific path first).
    for value in request.cookies.getlist(cookie_name())[:3]:
        genuine = _genuine(value, editor_id)
        if genuine is not None:
            found.append(genuine)
    return found


def _presented(editor_id: int | None) -> tuple[str, TrustedDevice] | None:
    """This request's device cookie for `editor_id` and its row, if both hold."""
    if editor_id is None:
        return None
    for nonce, _named in _cookies(editor_id):
        device = device_store.find(editor_id, nonce)
        if device is not None:
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
    """After a complete sign-in: trust this browser for the editor, with a new nonce.

    A browser already trusted keeps its row (its place in the list); so does one whose
    cookie names its row without matching it any more. Otherwise (forgotten, another
    editor's, no cookie) a new row.
    """
    now = clock.now()
    label = user_agent.coarse_label(request.headers.get("User-Agent"))
    nonce = secrets.token_urlsafe(18)
    found = _presented(editor_id)
    named = [d for _n, d in _cookies(editor_id) if d is not None]
    device_id = found[1].id if found else next(iter(named), None)
    if device_id is None or not device_store.renew(device_id, editor_id, nonce, now, label=label):
        device_id = device_store.add(editor_id, nonce, label, now).id
    _issue(editor_id, device_id, nonce, drop_legacy=True)


def seen(editor_id: int) -> None:
    """A signed-in editor's request: a trusted browser is marked used, at most once an hour,
    with a new nonce, and its cookie's 180 days start again then."""
    found, now = _presented(editor_id), clock.now()
    if found is None or not device_store.due(found[1], now):
        return
    device, nonce = found[1], secrets.token_urlsafe(18)
    if device_store.renew(device.id, editor_id, nonce, now, was=device.nonce_hash):
        db.session.commit()
        _issue(editor_id, device.id, nonce)
    # else: forgotten, or another tab's request renewed it first (its cookie is the one)


def forget_cookie() -> None:
    """This browser was forgotten: it drops its cookie too."""
    g.device_issued = None
    _set_cookie(None)


def _issue(editor_id: int, device_id: int, nonce: str, drop_legacy: bool = False) -> None:
    g.device_issued = (editor_id, nonce, device_id)  # what the browser holds from now on
    _set_cookie(make_cookie_value(editor_id, device_id, nonce), drop_legacy)


def _set_cookie(value: str | None, drop_legacy: bool = False) -> None:
    """Set (a value) or delete (None) this browser's device cookie on the response; at a
    sign-in, also the one from before trusted_device (Path=/admin), if any came. Called
    again in the same request (renewed, then forgotten), the last call wins."""
    g.device_cookie = value
    g.device_drop_legacy = g.get("device_drop_legacy") or (
        drop_legacy and COOKIE_HTTP in request.cookies
    )
    if g.get("device_writer"):
        return
    g.device_writer = True
    name, secure = cookie_name(), sessions.over_https()

    @after_this_request
    def write(response: Response) -> Response:
        if g.get("device_drop_legacy"):  # from before __Host- and Path=/ (Path=/admin)
            response.delete_cookie(COOKIE_HTTP, path=LEGACY_PATH, secure=secure, httponly=True)
        final = g.get("device_cookie")
        if final is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Strict")
        else:
            response.set_cookie(
                name,
                final,
                max_age=int(MAX_AGE.total_seconds()),
                path="/",
                secure=secure,
                httponly=True,
                samesite="Strict",
            )
        return response
