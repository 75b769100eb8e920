"""/dev/outbox: the mail `make run` caught, with clickable links. Development mode only."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from mailer.delivery.smtp_url import is_loopback
from mailer.dev.catcher import parse, read_outbox

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.before_request
def loopback_clients_only() -> None:
    """Whatever the server is bound to, the outbox answers this machine only (audit L10)."""
    if not is_loopback(request.remote_addr or ""):
        abort(404)


_URL_RE = re.compile(r"https?://[^\s<>\"]+")


def _linkify(text: str) -> Markup:
    escaped = str(escape(text))
    return Markup(
        _URL_RE.sub(lambda m: f'<a href="{m.group(0)}" target="_top">{m.group(0)}</a>', escaped)
    )


@bp.get("/outbox")
def outbox() -> ResponseReturnValue:
    entries = read_outbox(current_app.extensions["redis"])
    messages = [(entry, parse(entry)) for entry in entries]
    return render_template("dev/outbox.html", messages=messages)


@bp.get("/outbox/<message_id>")
def message(message_id: str) -> ResponseReturnValue:
    entries = read_outbox(current_app.extensions["redis"])
    entry = next((e for e in entries if e["id"] == message_id), None)
    if entry is None:
        abort(404)
    msg = parse(entry)
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    text = text_part.get_content() if text_part is not None else ""
    html = html_part.get_content() if html_part is not None else None
    if html is not None:
        html = '<base target="_top">' + html  # links in the preview open in the page itself
    body = render_template("dev/message.html", entry=entry, msg=msg, text=_linkify(text), html=html)
    # The email's inlined styles and remote images need a looser policy than our own pages.
    csp = (
        "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return body, 200, {"Content-Security-Policy": csp}
