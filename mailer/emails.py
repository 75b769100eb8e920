"""Render emails from templates/email/: the only code that knows those template names."""

from __future__ import annotations

import re
from typing import Any

import css_inline
from flask import current_app

from mailer import i18n
from mailer.delivery import Email, Transport, get_smtp_transport

_inliner = css_inline.CSSInliner(keep_style_tags=True)


def render_email(
    name: str,
    to: str,
    headers: dict[str, str] | None = None,
    language: str | None = None,
    **context: Any,
) -> Email:
    """Render email/<name>.subject.txt, .txt and .html into an Email for `to`, in `language`
    (a site language; else DEFAULT_LANGUAGE)."""
    env = current_app.jinja_env
    context.setdefault("network_name", current_app.config["NETWORK_NAME"])
    context.setdefault("contact_line", current_app.config["CONTACT_LINE"])
    with i18n.language(language):
        context.update(i18n.mail_globals())
        subject = env.get_template(f"email/{name}.subject.txt").render(context)
        text = env.get_template(f"email/{name}.txt").render(context)
        html = env.get_template(f"email/{name}.html").render(context)
    return Email(
        to=to,
        subject=re.sub(r"\s+", " ", subject).strip(),
        text=text.strip() + "\n",
        html=_inliner.inline(html),
        sender=current_app.config["MAIL_FROM"],
        headers=headers or {},
    )


def get_transport() -> Transport:
    """The transport mail leaves through: SMTP, or an override the tests install."""
    override = current_app.extensions.get("mail_transport")
    if override is not None:
        return override
    return get_smtp_transport(current_app.config["SMTP_URL"], current_app.config["SMTP_TIMEOUT"])
