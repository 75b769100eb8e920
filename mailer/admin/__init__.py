"""Editors' pages under /admin: the blueprint, wired once.

Each page module imports `bp` from here and registers its routes on it; this module
imports them all at its end, after `bp` exists (STYLE 27). Page modules never import
one another: what two of them share lives in a helper module (forms, search, stats).
"""

from __future__ import annotations

from flask import Blueprint

from mailer.admin import access, auth, search

bp = Blueprint("admin", __name__, url_prefix="/admin")
# First: an old ?q= search text is dropped before the login page's ?next= could keep it.
bp.before_request(search.drop_text_in_url)
bp.before_request(auth.require_login)
bp.before_request(access.check_access)  # roles: access.ENDPOINT_ROLES, fail closed
bp.before_request(auth.note_trusted_browser)  # trusted_device.last_used_at
bp.add_app_template_global(access.can, "can")

from mailer.admin import (  # noqa: E402  (the page modules register their routes on bp)
    account,
    account_devices,
    account_password,
    articles,
    audit_log,
    bounces,
    digest_preview,
    digest_send,
    digests,
    editors,
    lists,
    signin,
    subscriber_imports,
    subscriber_io,
    subscribers,
    views,
)

bp.after_request(audit_log.record_successful_post)

__all__ = [
    "access",
    "account",
    "account_devices",
    "account_password",
    "articles",
    "audit_log",
    "auth",
    "bounces",
    "bp",
    "digest_preview",
    "digest_send",
    "digests",
    "editors",
    "lists",
    "search",
    "signin",
    "subscriber_imports",
    "subscriber_io",
    "subscribers",
    "views",
]
