"""A same-origin check on every state-changing request, in front of the CSRF token.

Flask-WTF's HTTPS check wants a `Referer`, which our `Referrer-Policy: no-referrer` never lets
a browser send (links carry tokens), so it is off (`WTF_CSRF_SSL_STRICT = False`) and this
check takes its place, on what browsers send whatever the referrer policy:

- `Sec-Fetch-Site` (every current browser, on https and loopback): only `same-origin` passes;
  `same-site` (a sibling subdomain), `cross-site` and `none` are refused.
- `Origin`: a real origin must be ours, BASE_URL's or the request's own (scheme and host as
  the app sees them, after ProxyFix). `Origin: null` is what a browser sends for a form on a
  no-referrer page, and also from sandboxed frames: it proves nothing either way.

Neither header usable (scripts and curl, browsers from before 2023 on our no-referrer pages):
the request goes on to the CSRF token check, which is still required and needs the
SameSite=Lax session cookie that a cross-site form post does not carry. Refusing those would
lock out the scripts that drive the sign-up form (the product contract) and old phones, for
no gain against a cross-site page, which a current browser always labels.

Exempt, because their credential is not a session: the RFC 8058 one-click unsubscribe (mailbox
providers post it from their servers, with no cookie and no Origin; the signed token in the URL
is the credential) and the provider webhooks (signed bodies).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Forbidden

from mailer.errors import _respond

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
EXEMPT_ENDPOINTS = frozenset({"subscriptions.unsubscribe"})
EXEMPT_BLUEPRINTS = frozenset({"webhooks"})
DEFAULT_PORTS = {"http": 80, "https": 443}

MESSAGE = (
    "This form was sent from another site, so it was refused. "
    "If you meant to send it, open our page directly and try again."
)


class CrossSiteRequest(Forbidden):
    """A state-changing request that a browser says came from another site."""

    description = MESSAGE


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased and without a default port; None if none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allowed_origins() -> set[str]:
    """BASE_URL's origin and this request's own (as the app sees it behind trusted proxies)."""
    found = {origin_of(current_app.config["BASE_URL"]), origin_of(request.host_url)}
    return {origin for origin in found if origin}


def is_cross_site() -> bool:
    """True when the browser's own headers say this request did not come from our pages."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return True
    origin = request.headers.get("Origin")
    if origin is None or origin.strip().lower() == "null":
        return False
    return origin_of(origin) not in allowed_origins()


def check_same_origin() -> None:
    """Before each request: refuse a cross-site state-changing one with 403."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return
    if request.endpoint in EXEMPT_ENDPOINTS or request.blueprint in EXEMPT_BLUEPRINTS:
        return
    if is_cross_site():
        raise CrossSiteRequest()


def register(app: Flask) -> None:
    """Run the check before every other hook that reads a form (CSRF protection included)."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_same_origin)

    @app.errorhandler(CrossSiteRequest)
    def cross_site(exc: CrossSiteRequest) -> ResponseReturnValue:
        return _respond(403, MESSAGE, "cross_site_request")
