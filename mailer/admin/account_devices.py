"""Admin: the editor's trusted browsers on the Account page: forget one, or all but this one.

Forgetting only takes trust away (like "Log out everywhere"), so it asks no re-authentication.
An id that is not one of the editor's own browsers is a 404, whoever it belongs to.
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from mailer.accounts import device_store, devices, user_agent
from mailer.admin import bp
from mailer.extensions import db

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


@bp.post("/account/browsers/<int:device_id>/forget")
def account_forget_browser(device_id: int) -> ResponseReturnValue:
    editor_id = current_user.id
    this_one = devices.current_device_id(editor_id) == device_id
    if not device_store.forget(editor_id, device_id):
        abort(404)  # not theirs, or already forgotten: the same answer
    db.session.commit()
    if this_one:
        devices.forget_cookie()
    logger.info("editor %s forgot trusted browser %s", editor_id, device_id)
    flash(_("That browser is no longer trusted."))
    return redirect(url_for("admin.account"), 303)


@bp.post("/account/browsers/forget-others")
def account_forget_other_browsers() -> ResponseReturnValue:
    editor_id = current_user.id
    count = device_store.forget_others(editor_id, keep=devices.current_device_id(editor_id))
    db.session.commit()
    logger.info("editor %s forgot %s other trusted browser(s)", editor_id, count)
    flash(_("%(count)s other browser(s) forgotten.", count=count))
    return redirect(url_for("admin.account"), 303)
