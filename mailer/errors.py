"""Error pages: a clear message and the right status, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

MESSAGES: dict[int, object] = {
    400: _l("The request could not be understood. Please go back, reload the page and try again."),
    404: _l("There is nothing here. The link may be mistyped or no longer valid."),
    405: _l("This address does not accept that kind of request."),
    409: _l("That cannot be done in the current state."),
    410: _l("This link has expired."),
    413: _l("What you sent is too large."),
    422: _l("Some of what you entered needs another look."),
    429: _l("Too many attempts in a short time. Please wait a few minutes and try again."),
    500: _l("Something went wrong on our side. Nothing was changed; please try again later."),
}
# A reader's refused request (a form from another site) reads like a bad one; an editor's
# refusal names the reason (admin pages are English until the admin has its catalogues).
MESSAGES[403] = MESSAGES[400]
ROLE_REFUSED = "Your role does not allow this. Ask an owner of the newsletter if you need it."
CSRF_MESSAGE = _l(
    "This form has expired or was not sent from our page. Reload the page and try again."
)


def _respond(code: int, message: object, name: str) -> ResponseReturnValue:
    message = str(message)  # a lazy translation, in the language of this request
    if request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json"):
        return jsonify(error={"code": name, "message": message}), code
    return render_template("error.html", code=code, message=message), code


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return _respond(
            400,
            CSRF_MESSAGE,
            "csrf_failed",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        message = MESSAGES.get(code, exc.description or "")
        if code == 403 and request.path.startswith("/admin"):
            message = ROLE_REFUSED
        response = make_response(_respond(code, message, name))
        headers = exc.get_response().headers
        for name in ("Allow", "Retry-After"):
            if name in headers:
                response.headers[name] = headers[name]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> ResponseReturnValue:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        logger.exception("unhandled error on %s %s", request.method, request.endpoint)
        return _respond(500, MESSAGES[500], "internal_error")
