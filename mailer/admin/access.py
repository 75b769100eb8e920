"""Who may open which admin page: one table, checked before every /admin request.

ENDPOINT_ROLES names the least role each admin endpoint needs, per method. An endpoint
missing from it is refused to everyone (fail closed, logged as an error), so a new page is
unreachable until someone decides who may use it; tests/test_roles.py checks that every
route of the blueprint is listed. Finer rules inside a page (a confirmed import needs an
owner) call `require(...)`; templates hide what the editor cannot do with `can(...)`.

A disabled editor's sessions end too: the editor row is loaded on every request, and
Flask-Login counts an inactive editor as logged out, so disabling takes effect on the next
click (as does a role change). The operator's CLI is not role-gated.
"""

from __future__ import annotations

import logging

from flask import Flask, abort, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from mailer.models import Role

logger = logging.getLogger(__name__)

PUBLIC = None  # reachable logged out (the login page itself)
VIEWER, EDITOR, OWNER = Role.viewer, Role.editor, Role.owner

# endpoint -> least role, or {method: least role} when reading and changing differ.
ENDPOINT_ROLES: dict[str, Role | None | dict[str, Role]] = {
    "admin.login": PUBLIC,
    # the sign-in's later steps check their own state (a password already given)
    "admin.login_code": PUBLIC,
    "admin.login_enrol": PUBLIC,
    "admin.reauth": VIEWER,
    "admin.account": VIEWER,
    "admin.account_enrol": VIEWER,
    "admin.account_recovery_codes": VIEWER,
    "admin.account_forget_browser": VIEWER,  # only the editor's own (404 otherwise)
    "admin.account_forget_other_browsers": VIEWER,
    "admin.logout_everywhere": VIEWER,
    "admin.logout": VIEWER,
    "admin.dashboard": VIEWER,
    "admin.account_password": VIEWER,
    # articles
    "admin.articles": VIEWER,
    "admin.new_article": EDITOR,
    "admin.edit_article": EDITOR,
    "admin.delete_article": EDITOR,
    "admin.import_articles": EDITOR,
    # digests: viewers follow them (list, preview, progress); editors write and send
    "admin.digests": VIEWER,
    "admin.new_digest": EDITOR,
    "admin.edit_digest": EDITOR,
    "admin.preview_digest": VIEWER,
    "admin.preview_digest_html": VIEWER,
    "admin.digest_progress": VIEWER,
    "admin.test_digest": EDITOR,
    "admin.send_digest": EDITOR,
    "admin.confirm_send_digest": EDITOR,
    "admin.schedule_digest": EDITOR,
    "admin.control_digest": EDITOR,
    "admin.approve_digest": EDITOR,
    # lists
    "admin.lists": VIEWER,
    "admin.new_list": EDITOR,
    "admin.edit_list": EDITOR,
    "admin.delete_list": EDITOR,
    # subscribers: addresses are personal data, so not for viewers
    "admin.subscribers": EDITOR,
    "admin.search_subscribers": EDITOR,
    "admin.subscriber": EDITOR,
    "admin.add_subscriber": EDITOR,  # "already consented" needs an owner (subscriber_io)
    "admin.unsubscribe_subscriber": EDITOR,
    "admin.erase_subscriber": OWNER,
    "admin.export_subscribers": OWNER,
    "admin.import_subscribers": EDITOR,  # a confirmed import needs an owner (subscriber_imports)
    "admin.subscriber_import": EDITOR,
    "admin.subscriber_import_progress": EDITOR,
    # bounces and suppressions
    "admin.bounces": EDITOR,
    "admin.suppression_list": OWNER,
    "admin.add_suppression": OWNER,
    # editors and the audit log
    "admin.editors": OWNER,
    "admin.invite_editor": OWNER,
    "admin.revoke_invite": OWNER,
    "admin.change_role": OWNER,
    "admin.disable_editor": OWNER,
    "admin.enable_editor": OWNER,
    "admin.reset_second_factor": OWNER,
    "admin.audit_log": OWNER,
}


class Undeclared(LookupError):
    """An admin endpoint that ENDPOINT_ROLES does not name."""


def needed_role(endpoint: str, method: str) -> Role | None:
    """The least role `endpoint` needs for `method`; None: public. Raises Undeclared."""
    if endpoint not in ENDPOINT_ROLES:
        raise Undeclared(endpoint)
    rule = ENDPOINT_ROLES[endpoint]
    if isinstance(rule, dict):
        # HEAD reads like GET; a method the table does not name needs the highest role.
        return rule.get("GET" if method == "HEAD" else method, max(rule.values(), key=_rank))
    return rule


def _rank(role: Role) -> int:
    return role.rank


def editor_role() -> Role | None:
    """The logged-in, active editor's role, or None."""
    if not current_user.is_authenticated or not current_user.is_active:
        return None
    role = current_user.role
    return role if isinstance(role, Role) else None


def allowed(endpoint: str, method: str = "GET") -> bool:
    try:
        needed = needed_role(endpoint, method)
    except Undeclared:
        return False
    if needed is None:
        return True
    role = editor_role()
    return role is not None and role.allows(needed)


def can(endpoint: str, method: str = "POST") -> bool:
    """For templates: may the current editor use this action (a form posts by default)?"""
    return allowed(endpoint, method)


def require(role: Role) -> None:
    """Inside a page: refuse (403) an editor below `role`."""
    current = editor_role()
    if current is None or not current.allows(role):
        abort(403)


def check_access() -> ResponseReturnValue | None:
    """Before every /admin request, after require_login: active account, enough role."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 / 405: nothing to protect
    g.audit_editor_id = int(current_user.get_id()) if current_user.is_authenticated else None
    try:
        needed = needed_role(endpoint, request.method)
    except Undeclared:
        logger.error("admin endpoint %s has no declared role: refused", endpoint)
        abort(403)
    if needed is None:
        return None
    # Flask-Login counts an inactive (disabled) editor as logged out, so require_login has
    # sent them to the login page already; this stays as a second line of defence.
    if current_user.is_authenticated and not current_user.is_active:
        logger.info("disabled editor %s: session ended", current_user.get_id())
        logout_user()
        flash(_("This account is disabled. Ask an owner if you need access again."))
        return redirect(url_for("admin.login"), 303 if request.method != "GET" else 302)
    role = editor_role()
    if role is None or not role.allows(needed):
        logger.warning(
            "editor %s (%s) refused %s %s",
            current_user.get_id(),
            role.value if role else "-",
            request.method,
            endpoint,
        )
        abort(403)
    return None


def init_app(app: Flask) -> None:
    app.jinja_env.globals["can"] = can
