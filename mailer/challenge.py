"""Self-hosted proof of work for the sign-up form (altcha v1: SHA-256, no third party)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time

import altcha
from flask import current_app

from mailer.models import utcnow

logger = logging.getLogger(__name__)


def _key() -> str:
    return f"{current_app.config['SECRET_KEY']}:altcha"


def new_challenge() -> dict[str, object]:
    """A signed challenge for the browser to solve; it expires and works once."""
    options = altcha.ChallengeOptionsV1(
        hmac_key=_key(),
        max_number=current_app.config["SIGNUP_CHALLENGE_MAX_NUMBER"],
        expires=utcnow() + current_app.config["SIGNUP_CHALLENGE_MAX_AGE"],
    )
    c = altcha.create_challenge_v1(options)
    return {
        "algorithm": c.algorithm,
        "challenge": c.challenge,
        "max_number": c.max_number,
        "salt": c.salt,
        "signature": c.signature,
    }


def solved_signature(payload: str | None) -> str | None:
    """The signature of the challenge that `payload` solves, if it is genuine and fresh; None
    if not. Whether it was used already is the replay store's (`verify`, or the sign-up's
    guard (subscriptions/guard.py), which asks Redis once for this and the per-IP limit)."""
    if not payload or len(payload) > 2000:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
        ok, _error = altcha.verify_solution_v1(data, _key(), check_expires=True)
    except (ValueError, binascii.Error, TypeError, KeyError, AttributeError):
        return None
    return str(data.get("signature")) if ok else None


def replay_key(signature: str) -> str:
    """The replay store's Redis key of a used challenge."""
    return f"mailer:altcha:{signature}"


def replay_ttl() -> int:
    """Seconds a used challenge is remembered: as long as it could still be accepted."""
    return int(current_app.config["SIGNUP_CHALLENGE_MAX_AGE"].total_seconds())


def first_use_in_memory(signature: str) -> bool:
    """The replay store in this process's memory, while Redis is away."""
    return _LOCAL.first_use(signature, replay_ttl())


class _LocalReplayStore:
    """Used challenge signatures in this process, while Redis is away; full, it refuses."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._expiry) >= self.capacity:
                self._expiry = {s: t for s, t in self._expiry.items() if t > now}
            if self._expiry.get(signature, 0.0) > now or len(self._expiry) >= self.capacity:
                return False
            self._expiry[signature] = now + ttl
            return True


_LOCAL = _LocalReplayStore()
