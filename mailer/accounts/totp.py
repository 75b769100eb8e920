"""The second factor: TOTP (RFC 6238) with replay protection, and single-use recovery codes.

The secret is stored encrypted (Fernet with a key derived from SECRET_KEY; the fallbacks still
decrypt after a rotation) and shown only while enrolling. A code is accepted in the current
30-second step or the one either side, and only for a step later than the last one accepted,
so an observed code cannot be replayed. Recovery codes carry 80 random bits each and are
stored as SHA-256 hashes; each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import pyotp
from flask import current_app
from sqlalchemy import delete, or_, select, update

from mailer import clock
from mailer.accounts import device_store
from mailer.extensions import db
from mailer.keys import derived_keys
from mailer.models import Editor, RecoveryCode

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

STEP_SECONDS = 30
RECOVERY_CODES = 10
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 symbols, no l/o/0/1: 5 bits each


def _fernet() -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet  # at sign-in, not at every start

    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(key)) for key in derived_keys("totp-secret")]
    )


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, email: str) -> str:
    issuer = str(current_app.config["NETWORK_NAME"])
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code of an otpauth:// URI as inline SVG, made here: no outside service sees it."""
    import segno  # on the enrolment page only

    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff"))


def current_step() -> int:
    return int(clock.now().timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str) -> int | None:
    """The time step (now, or one either side for clock drift) whose code this is, or None."""
    code = normalise(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = current_step()
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch not in " -\t")


def use_totp(editor: Editor, code: str) -> bool:
    """Accept the code once: its step must be later than the last accepted (atomically)."""
    secret = decrypt(editor.totp_secret) if editor.totp_secret else None
    step = matching_step(secret, code) if secret else None
    if step is None:
        return False
    accepted = db.session.execute(
        update(Editor)
        .where(
            Editor.id == editor.id,
            or_(Editor.totp_last_step.is_(None), Editor.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(editor)
    return bool(getattr(accepted, "rowcount", 0) == 1)


def use_recovery_code(editor: Editor, code: str) -> bool:
    digest = _hash(code)
    row_id = db.session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.editor_id == editor.id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
    )
    if row_id is None:
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(used, "rowcount", 0) == 1)


def verify(editor: Editor, code: str) -> bool:
    """A TOTP code or an unused recovery code of this editor (each accepted once)."""
    code = normalise(code)
    if not code or len(code) > 64:
        return False
    if code.isdigit():
        return use_totp(editor, code)
    return use_recovery_code(editor, code)


def unused_recovery_codes(editor_id: int) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.editor_id == editor_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def replace_recovery_codes(editor: Editor) -> list[str]:
    """Ten fresh codes (the old ones stop working); returned once, stored hashed."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(editor_id=editor.id, code_hash=_hash(c)) for c in codes)
    return codes


def enrol(editor: Editor, secret: str, code: str) -> list[str] | None:
    """Keep the secret if the code proves the app has it: the recovery codes, or None."""
    step = matching_step(secret, code)
    if step is None:
        return None
    editor.totp_secret = encrypt(secret)
    editor.totp_last_step = step  # the code just typed cannot be used to sign in again
    editor.totp_enrolled_at = clock.now()
    device_store.forget_all(editor.id, by=editor.id, reason="second_factor")
    return replace_recovery_codes(editor)


def remove(editor: Editor) -> None:
    """Forget the second factor and its recovery codes (the caller revokes the sessions)."""
    editor.totp_secret = None
    editor.totp_last_step = None
    editor.totp_enrolled_at = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))


def reset(editor: Editor, by: int | None = None) -> None:
    """An operator's or owner's reset: no second factor, no recovery codes, no session, no
    trusted browser. `by`: the owner who resets (None: the operator's command line).

    With ADMIN_2FA=required the editor enrols again at the next sign-in.
    """
    from mailer.accounts import sessions

    remove(editor)
    sessions.revoke_all(editor.id)
    device_store.forget_all(editor.id, by=by, reason="second_factor_reset")
