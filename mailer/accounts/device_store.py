"""Trusted browsers: one trusted_device row per device cookie (mailer/accounts/devices.py).

A device cookie counts only while its row exists, so an editor can forget one browser (a
lost laptop) and keep the others. The row holds a keyed hash of the cookie's nonce, never
the nonce: the table alone cannot make a cookie. Rows go when the editor forgets them, when
the password changes, a second factor is enrolled or reset, or the account is disabled,
when the editor has more than MAX_PER_EDITOR, and MAX_AGE after their last use (prune.py).
Every forgetting is audited, with row ids only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from mailer import audit
from mailer.extensions import db
from mailer.keys import derived_key, derived_keys
from mailer.models import TrustedDevice

MAX_AGE = timedelta(days=180)  # the cookie's life, and a row's after its last use
TOUCH_EVERY = timedelta(hours=1)  # last_used_at is written at most this often
MAX_PER_EDITOR = 20  # past it, the least recently used go
_PURPOSE = "trusted-device"


def _hash(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def nonce_hash(nonce: str) -> str:
    """The stored form of a nonce: HMAC-SHA256 with a key derived for this purpose only."""
    return _hash(derived_key(_PURPOSE), nonce)


def find(editor_id: int, nonce: str) -> TrustedDevice | None:
    """The editor's row for this nonce (hashed with SECRET_KEY or a fallback), or None."""
    hashes = [_hash(key, nonce) for key in derived_keys(_PURPOSE)]
    return db.session.scalar(
        select(TrustedDevice).where(
            TrustedDevice.editor_id == editor_id, TrustedDevice.nonce_hash.in_(hashes)
        )
    )


def add(editor_id: int, nonce: str, label: str, now: datetime) -> TrustedDevice:
    """A new trusted browser; the editor's least recently used past MAX_PER_EDITOR go."""
    device = TrustedDevice(
        editor_id=editor_id,
        nonce_hash=nonce_hash(nonce),
        created_at=now,
        last_used_at=now,
        label=label,
    )
    db.session.add(device)
    db.session.flush()
    surplus = for_editor(editor_id)[MAX_PER_EDITOR:]
    if surplus:
        _delete(editor_id, [d.id for d in surplus], by=editor_id, reason="too_many")
    return device


def signed_in_again(device: TrustedDevice, nonce: str, label: str, now: datetime) -> None:
    """A complete sign-in from a trusted browser: used now, its label and hash renewed (the
    hash under today's SECRET_KEY, so that the row outlives the key's rotation)."""
    device.last_used_at = now
    device.label = label
    device.nonce_hash = nonce_hash(nonce)


def touch(device: TrustedDevice, now: datetime) -> bool:
    """Mark the browser used now, unless it was within TOUCH_EVERY; True if written."""
    if now - device.last_used_at < TOUCH_EVERY:
        return False
    device.last_used_at = now
    return True


def for_editor(editor_id: int) -> list[TrustedDevice]:
    """The editor's trusted browsers, the most recently used first."""
    return list(
        db.session.scalars(
            select(TrustedDevice)
            .where(TrustedDevice.editor_id == editor_id)
            .order_by(TrustedDevice.last_used_at.desc(), TrustedDevice.id.desc())
        )
    )


def _delete(editor_id: int, ids: Iterable[int], *, by: int | None, reason: str) -> int:
    ids = sorted(ids)
    if not ids:
        return 0
    db.session.execute(
        delete(TrustedDevice)
        .where(TrustedDevice.editor_id == editor_id, TrustedDevice.id.in_(ids))
        .execution_options(synchronize_session="fetch")
    )
    audit.record(
        "forget_devices",
        editor_id=by,
        objects=("trusted_device", ids),
        detail={"editor": editor_id, "reason": reason},
    )
    return len(ids)


def forget(editor_id: int, device_id: int) -> bool:
    """The editor forgets one of their browsers; False if it is not theirs (or gone)."""
    device = db.session.get(TrustedDevice, device_id)
    if device is None or device.editor_id != editor_id:
        return False
    return _delete(editor_id, [device_id], by=editor_id, reason="forgotten") == 1


def forget_others(editor_id: int, keep: int | None) -> int:
    """The editor forgets every browser of theirs but `keep` (this one); how many."""
    ids = [d.id for d in for_editor(editor_id) if d.id != keep]
    return _delete(editor_id, ids, by=editor_id, reason="others")


def forget_all(editor_id: int, *, by: int | None, reason: str) -> int:
    """Every browser of the editor (new password, second factor enrolled or reset, disabled);
    `by`: who caused it (None: the operator's command line). The caller commits."""
    ids = db.session.scalars(
        select(TrustedDevice.id).where(TrustedDevice.editor_id == editor_id)
    ).all()
    return _delete(editor_id, ids, by=by, reason=reason)


def unused_since(now: datetime) -> datetime:
    """Rows last used before this are pruned (prune.py): their cookies have expired."""
    return now - MAX_AGE
