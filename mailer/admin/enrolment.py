"""The TOTP enrolment page, shared by the sign-in (ADMIN_2FA=required) and the account page.

While the editor enrols, the new secret waits in the session cookie, encrypted; it is kept
in the database (encrypted) only once a code from the app proves the app has it, and it is
never shown again afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import render_template, session
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from mailer.accounts import totp
from mailer.admin.forms import EnrolForm
from mailer.models import Editor

ENROL_KEY = "enrol_secret"


def _secret(editor: Editor) -> str:
    """The secret being enrolled for this editor (a new one if none, or another editor's)."""
    kept = session.get(ENROL_KEY)
    if isinstance(kept, dict) and kept.get("editor") == editor.id:
        secret = totp.decrypt(str(kept.get("secret") or ""))
        if secret:
            return secret
    secret = totp.new_secret()
    session[ENROL_KEY] = {"editor": editor.id, "secret": totp.encrypt(secret)}
    return secret


def enrolment_page(
    editor: Editor, done: Callable[[list[str]], ResponseReturnValue]
) -> ResponseReturnValue:
    """Show the QR code and the secret; with a valid code, keep them and call `done(codes)`."""
    form = EnrolForm()
    secret = _secret(editor)
    if form.validate_on_submit():
        codes = totp.enrol(editor, secret, form.code.data or "")
        if codes is not None:
            session.pop(ENROL_KEY, None)
            return done(codes)
        form.code.errors = [
            "That code does not match. Check that the phone's clock is right, then type the"
            " code the app shows now."
        ]
    uri = totp.provisioning_uri(secret, editor.email)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render_template(
        "admin/enrol.html", form=form, qr=Markup(totp.qr_svg(uri)), secret=grouped
    ), (422 if form.errors else 200)


def recovery_codes_page(codes: list[str], target: str) -> ResponseReturnValue:
    """The codes, shown this once: the page is never cached."""
    return (
        render_template("admin/recovery_codes.html", codes=codes, target=target),
        200,
        {"Cache-Control": "no-store"},
    )
