"""Response headers: a strict CSP, no referrer (links carry tokens), no caching of token pages."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
)


def limit_public_bodies() -> None:
    """Public pages accept small bodies only: a sign-up form needs a few KB, not megabytes."""
    if request.blueprint == "subscriptions":
        request.max_content_length = int(current_app.config["PUBLIC_MAX_CONTENT_LENGTH"])


def register(app: Flask) -> None:
    # First of all before-request hooks: CSRF protection reads the form in its own hook.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_public_bodies)

    @app.after_request
    def security_headers(response: Response) -> Response:
        embed = request.args.get("embed") == "1"
        ancestors = current_app.config["EMBED_FRAME_ANCESTORS"] if embed else "'none'"
        response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Confirmation, unsubscribe and preferences URLs are credentials: never leak them.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not embed:
            response.headers.setdefault("X-Frame-Options", "DENY")
        if request.view_args and "token" in request.view_args or request.method == "POST":
            response.headers["Cache-Control"] = "no-store"
        return response
