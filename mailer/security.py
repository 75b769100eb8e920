"""Response headers: a strict CSP, no referrer (links carry tokens), no caching of token pages,
HSTS over https, and framing only for the embeddable sign-up form."""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request

from mailer import same_origin

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
)
# Two years, every subdomain (audit M8). Not `preload`: that is a promise about the whole
# domain that only its owner can make (README, "HTTPS headers").
HSTS = "max-age=63072000; includeSubDomains"
# `?embed=1` lets other pages frame these and nothing else: the form, its answer when the
# input needs another look (the same endpoint), and "check your inbox" (audit L1).
EMBED_ENDPOINTS = frozenset(
    {"subscriptions.subscribe_form", "subscriptions.subscribe", "subscriptions.check_inbox"}
)


def limit_public_bodies() -> None:
    """Public pages accept small bodies only: a sign-up form needs a few KB, not megabytes."""
    if request.blueprint == "subscriptions":
        request.max_content_length = int(current_app.config["PUBLIC_MAX_CONTENT_LENGTH"])


def refuse_nul_in_url() -> None:
    """400 for a URL with a NUL (%00) in its path or query: no address of ours has one, and
    PostgreSQL refuses it in a query (an archive slug, an admin search were 500s)."""
    args = request.args.items(multi=True)
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in args):
        abort(400)


def frame_ancestors() -> str:
    """CSP frame-ancestors sources for the embeddable pages: EMBED_FRAME_ANCESTORS, or 'self'.

    Not a guess from BASE_URL's parent domain: for https://example.co.uk or a github.io site
    that parent is a public suffix, and every site under it could frame the form.
    """
    return str(current_app.config.get("EMBED_FRAME_ANCESTORS") or "'self'")


def embedding_allowed() -> bool:
    return request.args.get("embed") == "1" and request.endpoint in EMBED_ENDPOINTS


def security_headers(response: Response) -> Response:
    """Add the headers every response gets (a view may have set its own CSP or framing)."""
    embed = embedding_allowed()
    ancestors = frame_ancestors() if embed else "'none'"
    response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Confirmation, unsubscribe and preferences URLs are credentials: never leak them.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not embed:
        response.headers.setdefault("X-Frame-Options", "DENY")
    if str(current_app.config["BASE_URL"]).startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    token_page = bool(request.view_args and "token" in request.view_args)
    # Admin pages list subscribers' addresses: keep them out of editors' browser caches (L8).
    if token_page or request.method == "POST" or request.blueprint == "admin":
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    # Before-request hooks run in list order, and CSRF protection (registered earlier) reads
    # the form in its own: the body limit first, then the same-origin check, then the rest.
    same_origin.register(app)
    app.before_request_funcs.setdefault(None, []).insert(0, limit_public_bodies)
    app.before_request_funcs[None].insert(0, refuse_nul_in_url)
    app.after_request(security_headers)
