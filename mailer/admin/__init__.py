"""Editors' pages under /admin: the blueprint, wired once.

Each page module imports `bp` from here and registers its routes on it; this module
imports them all at its end, after `bp` exists (STYLE 27). Page modules never import
one another: what two of them share lives in a helper module (forms, search, stats).
"""

from __future__ import annotations

from flask import Blueprint

from mailer.admin import auth

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(auth.require_login)

from mailer.admin import (  # noqa: E402  (the page modules register their routes on bp)
    account,
    articles,
    bounces,
    digests,
    lists,
    signin,
    subscriber_imports,
    subscriber_io,
    subscribers,
    views,
)

__all__ = [
    "account",
    "articles",
    "auth",
    "bounces",
    "bp",
    "digests",
    "lists",
    "signin",
    "subscriber_imports",
    "subscriber_io",
    "subscribers",
    "views",
]
