"""Trusted browsers: one trusted_device row per device cookie (mailer/accounts/devices.py).

A device cookie counts only while its row exists, so an editor can forget one browser (a
lost laptop) and keep the others. The row holds a keyed hash of the cookie's nonce, never
the nonce: the table alone cannot make a cookie. Rows go when the editor forgets them, when
the password changes, a second factor is enrolled or reset, or the account is disabled,
when the editor has more than MAX_PER_EDITOR, and MAX_AGE after their last use (prune.py).
Every forgetting is audited, with row ids only. A row's nonce changes at each complete
sign-in and each hourly renewal (renew), so a copy of an older cookie matches no row.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm.util import identity_key

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


def _loaded(device_id: int) -> TrustedDevice | None:
    """This session's copy of the row, if it loaded one (without a query)."""
    found = db.session.identity_map.get(identity_key(TrustedDevice, device_id))
    return found if isinstance(found, TrustedDevice) else None


def due(device: TrustedDevice, now: datetime) -> bool:
    """The browser was last marked used TOUCH_EVERY ago or more: time to renew it."""
    return now - device.last_used_at >= TOUCH_EVERY


def renew(
    device_id: int,
    editor_id: int,
    nonce: str,
    now: datetime,
    *,
    label: str | None = None,
    was: str | None = None,
) -> bool:
    """The editor's browser `device_id` gets a new nonce (its hash under today's SECRET_KEY)
    and is used now; with `was`, only if its hash is still that one. False if no row
    changed: the browser was forgotten, or (with `was`) another request renewed it first.

    A plain UPDATE … WHERE id: a row deleted meanwhile by "Forget" is no error (the ORM's
    flush of a loaded row would raise StaleDataError) and is not brought back.
    """
    values: dict[str, object] = {"nonce_hash": nonce_hash(nonce), "last_used_at": now}
    if label is not None:
        values["label"] = label
    statement = update(TrustedDevice).where(
        TrustedDevice.id == device_id, TrustedDevice.editor_id == editor_id
    )
    if was is not None:
        statement = statement.where(TrustedDevice.nonce_hash == was)
    result = db.session.execute(
        statement.values(values).execution_options(synchronize_session=False)
    )
    loaded = _loaded(device_id)
    if loaded is not None:
        db.session.expire(loaded)  # read again from the row when next used
    return int(getattr(result, "rowcount", 0) or 0) == 1


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
    result = db.session.execute(
        delete(TrustedDevice)
        .where(TrustedDevice.editor_id == editor_id, TrustedDevice.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    for device_id in ids:
        loaded = _loaded(device_id)
        if loaded is not None:
            db.session.expunge(loaded)
    count = int(getattr(result, "rowcount", 0) or 0)
    if count == 0:
        return 0  # gone already (another request forgot them): nothing to record
    audit.record(
        "forget_devices",
        editor_id=by,
        objects=("trusted_device", ids),
        detail={"editor": editor_id, "reason": reason},
    )
    return count


def forget(editor_id: int, device_id: int) -> bool:
    """The editor forgets one of their browsers; False if it is not theirs (or gone)."""
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
