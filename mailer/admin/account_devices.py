"""Admin: the editor's trusted browsers on the Account page: forget one, or all but this one.

Both ask for the password (and code) again once the sign-in is a few minutes old, as the
page's other sensitive actions do: a thief holding only a session must not strip trust
from the editor's own browsers, which a botnet could then lock out with the account.
Forgetting a browser signs it out (every other session of the editor ends) and mails the
editor a notice. An id that is not one of the editor's own browsers is a 404, whoever it
belongs to; so is one no row can have (past a 32-bit INTEGER), before any query.
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from mailer.accounts import device_store, devices, sessions, user_agent
from mailer.admin import bp
from mailer.extensions import db
from mailer.tasks.accounts import notify_editor

logger = logging.getLogger(__name__)


# Names of products and systems, as their makers write them (not translated).
FAMILIES = {
    "edge": "Edge",
    "opera": "Opera",
    "samsung": "Samsung Internet",
    "firefox": "Firefox",
    "chromium": "Chromium",
    "chrome": "Chrome",
    "safari": "Safari",
}
SYSTEMS = {
    "windows": "Windows",
    "ios": "iOS",
    "android": "Android",
    "chromeos": "ChromeOS",
    "macos": "macOS",
    "linux": "Linux",
    "bsd": "BSD",
}


@bp.app_template_filter("browser_label")
def browser_label(label: str) -> str:
    """'firefox/windows' as the editor reads it: "Firefox on Windows"."""
    family, system = user_agent.parts(label)
    return _(
        "%(browser)s on %(system)s",
        browser=FAMILIES.get(family) or _("A browser"),
        system=SYSTEMS.get(system) or _("an unknown system"),
    )


def _account() -> str:
    return url_for("admin.account")


@bp.post("/account/browsers/<int(min=1):device_id>/forget")
@sessions.reauth_required(back=lambda **_ids: _account())
def account_forget_browser(device_id: int) -> ResponseReturnValue:
    editor_id = current_user.id
    this_one = devices.current_device_id(editor_id) == device_id
    if not device_store.forget(editor_id, device_id):
        abort(404)  # not theirs, or already forgotten: the same answer
    # Sessions are not tied to browsers: every other session of the editor ends, so the
    # forgotten browser's does; forgetting this browser signs it out as well.
    sessions.revoke_all(editor_id, keep_this_one=not this_one)
    notify_editor(editor_id, "browsers_forgotten")  # commits
    logger.info("editor %s forgot trusted browser %s", editor_id, device_id)
    if this_one:
        devices.forget_cookie()
        logout_user()
        session.clear()
        sessions.forget_cookie()
        flash(_("This browser is no longer trusted, and you are signed out."))
        return redirect(url_for("admin.login"), 303)
    flash(_("That browser is no longer trusted, and your other sessions have ended."))
    return redirect(_account(), 303)


@bp.post("/account/browsers/forget-others")
@sessions.reauth_required(back=_account)
def account_forget_other_browsers() -> ResponseReturnValue:
    editor_id = current_user.id
    count = device_store.forget_others(editor_id, keep=devices.current_device_id(editor_id))
    sessions.revoke_all(editor_id, keep_this_one=True)
    if count:
        notify_editor(editor_id, "browsers_forgotten")  # commits
    else:
        db.session.commit()
    logger.info("editor %s forgot %s other trusted browser(s)", editor_id, count)
    flash(
        _(
            "%(count)s other browser(s) forgotten, and your other sessions have ended.",
            count=count,
        )
    )
    return redirect(_account(), 303)
