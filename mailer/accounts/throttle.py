"""Failed sign-ins throttled per account and per client network, whoever asks from where.

Each failure (a wrong password, second-factor code or re-authentication) counts against two
keys: the account, a keyed hash of the normalised address typed (an unknown address gets
a row just like a real one, so the throttle cannot tell them apart), and the client's
network (the keyed hash the per-IP limits use; behind a proxy only TRUSTED_PROXIES decides
who the client is). After FREE_FAILURES failures each attempt waits LOGIN_BACKOFF_BASE
seconds, doubled at each failure; from LOGIN_LOCK_AFTER failures (the network:
LOGIN_NETWORK_LOCK_AFTER) the key is locked for LOGIN_LOCK_MINUTES, again at each further
failure. An attempt refused while a key waits is not checked and not counted. Failures
are forgotten after FORGET_AFTER without any, or when the account signs in fully.

A browser presenting a valid device cookie of the editor (mailer/accounts/devices.py) is
counted apart: its failures count on the device's key only, and neither the account's nor
the network's lock refuses it, so strangers guessing cannot lock the editor out of the
browser they signed in with before. A device locked by its own failures is untrusted again.

Every failure and lock is logged (editor id or "unknown", never the address or password)
and recorded in login_event for the owners' dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from mailer import audit, clock
from mailer.accounts import devices
from mailer.accounts.prune import FORGET_AFTER
from mailer.extensions import db
from mailer.keys import derived_key, rate_limit_key
from mailer.models import LoginEvent, LoginThrottle

logger = logging.getLogger(__name__)

FREE_FAILURES = 3
MAX_BACKOFF_EXPONENT = 20


@dataclass(frozen=True)
class Keys:
    account: str
    network: str
    network_hash: str  # what login_event and the log show
    device: str | None = None  # a trusted device's key: then the only one counted
    device_seen: str | None = None  # the key of a genuine device cookie, trusted or locked

    def counted(self) -> tuple[tuple[str, str], ...]:
        """(key, name) of each key this attempt is checked and counted against."""
        if self.device is not None:
            return ((self.device, "device"),)
        return ((self.account, "account"), (self.network, "network"))

    def all(self) -> tuple[str, ...]:
        return tuple(key for key, _name in self.counted())


def account_hash(email: str) -> str:
    normalised = email.strip().lower()
    mac = hmac.new(derived_key("login-throttle"), normalised.encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def keys_for(email: str, editor_id: int | None = None) -> Keys:
    """The keys of an attempt on `email`; with the id of the editor it names, a device cookie
    of that editor that is not locked makes it a trusted attempt."""
    network = rate_limit_key()
    nonce = devices.presented_nonce(editor_id)
    device = devices.throttle_key(nonce) if nonce is not None else None
    seen = device
    if device is not None and _device_locked(device):
        device = None  # locked by its own failures: an untrusted client again
    return Keys(
        account="a:" + account_hash(email),
        network="n:" + network,
        network_hash=network,
        device=device,
        device_seen=seen,
    )


def _device_locked(key: str) -> bool:
    now = clock.now()
    row = db.session.get(LoginThrottle, key, populate_existing=True)
    return (
        row is not None
        and row.failures >= int(current_app.config["LOGIN_LOCK_AFTER"])
        and row.blocked_until is not None
        and row.blocked_until > now
        and row.last_failure_at > now - FORGET_AFTER
    )


def _rows(keys: Keys) -> list[LoginThrottle]:
    return list(db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys.all()))))


def hold(keys: Keys) -> None:
    """Take the keys' write lock (SQLite: the database's; PostgreSQL: the rows') until the
    caller commits: attempts on one account or network then run one after another, so a
    burst of guesses sent together meets the failures of the ones before it (each step
    holds it from its throttle check through its verdict)."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(keys.all()))
        .values(failures=LoginThrottle.failures)
        .execution_options(synchronize_session=False)
    )


def wait_seconds(keys: Keys) -> float:
    """How long before this account may try again from this network or device (0: now)."""
    now = clock.now()
    waits = [
        (row.blocked_until - now).total_seconds()
        for row in _rows(keys)
        if row.blocked_until is not None and row.last_failure_at > now - FORGET_AFTER
    ]
    return max([0.0, *waits])


def refused(keys: Keys, editor_id: int | None) -> None:
    """An attempt refused unchecked while the key waits: logged, not counted."""
    logger.warning(
        "sign-in refused while throttled: editor %s, network %s%s",
        editor_id or "unknown",
        keys.network_hash,
        ", trusted device" if keys.device else "",
    )


def _locked_row(key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked for update (PostgreSQL), created if missing."""
    query = (
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = db.session.scalar(query)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            db.session.add(LoginThrottle(key=key, failures=0, last_failure_at=now))
    except IntegrityError:  # another request created it first
        pass
    row = db.session.scalar(query)
    assert row is not None
    return row


def _count(row: LoginThrottle, now: datetime, lock_after: int) -> bool:
    """Count one failure on the row; True if it locks the key."""
    cfg = current_app.config
    if row.last_failure_at <= now - FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    lock = timedelta(minutes=int(cfg["LOGIN_LOCK_MINUTES"]))
    if row.failures >= lock_after:
        row.blocked_until = now + lock
        return True
    if row.failures >= FREE_FAILURES:
        exponent = min(row.failures - FREE_FAILURES, MAX_BACKOFF_EXPONENT)
        delay = timedelta(seconds=float(cfg["LOGIN_BACKOFF_BASE"]) * 2**exponent)
        row.blocked_until = now + min(delay, lock)
    else:
        row.blocked_until = None
    return False


def failed(keys: Keys, editor_id: int | None, what: str) -> None:
    """Count a failure (what: password, second_factor or reauth) on the attempt's keys (the
    account's and the network's, or a trusted device's); commits."""
    now = clock.now()
    cfg = current_app.config
    hold(keys)  # so that two failures at once both count: each reads what the other wrote
    locked = []
    for key, name in keys.counted():
        setting = "LOGIN_NETWORK_LOCK_AFTER" if name == "network" else "LOGIN_LOCK_AFTER"
        if _count(_locked_row(key, now), now, int(cfg[setting])):
            locked.append(name)
    who = editor_id or "unknown"
    trusted = ", trusted device" if keys.device else ""
    db.session.add(
        LoginEvent(at=now, editor_id=editor_id, network_hash=keys.network_hash, outcome=what)
    )
    logger.warning(
        "sign-in failure (%s): editor %s, network %s%s", what, who, keys.network_hash, trusted
    )
    # Names nobody (no typed address either): login_event holds the attacked account.
    detail = {"step": what, "device": "trusted"} if keys.device else {"step": what}
    audit.record("login.failure", editor_id=None, detail=detail)
    for name in locked:
        db.session.add(
            LoginEvent(
                at=now, editor_id=editor_id, network_hash=keys.network_hash, outcome="locked"
            )
        )
        logger.warning(
            "sign-in locked (%s) for %s minutes: editor %s, network %s",
            name,
            cfg["LOGIN_LOCK_MINUTES"],
            who,
            keys.network_hash,
        )
    db.session.commit()


def succeeded(keys: Keys) -> None:
    """A full sign-in (password and second factor): the failures counted for it are forgotten.

    From a trusted device only the device's: the account's count stays for the untrusted
    clients still guessing. A device locked by its own failures that signs in fully (as an
    untrusted client) is trusted again.
    """
    forget = [keys.device_seen] if keys.device_seen is not None else []
    if keys.device is None:
        forget.append(keys.account)
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(forget)))


def recent_failures(limit: int = 10) -> list[LoginEvent]:
    return list(
        db.session.scalars(
            select(LoginEvent).order_by(LoginEvent.at.desc(), LoginEvent.id.desc()).limit(limit)
        )
    )
