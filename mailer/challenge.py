"""Self-hosted proof of work for the sign-up form (altcha v1: SHA-256, no third party)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time

import altcha
import redis
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


def verify(payload: str | None) -> bool:
    """True when `payload` (base64 JSON from the form) solves a fresh, unused challenge."""
    if not payload or len(payload) > 2000:
        return False
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
        ok, _error = altcha.verify_solution_v1(data, _key(), check_expires=True)
    except (ValueError, binascii.Error, TypeError, KeyError, AttributeError):
        return False
    if not ok:
        return False
    return _first_use(str(data.get("signature")))


def _first_use(signature: str) -> bool:
    client: redis.Redis = current_app.extensions["redis"]
    ttl = int(current_app.config["SIGNUP_CHALLENGE_MAX_AGE"].total_seconds())
    try:
        return bool(client.set(f"mailer:altcha:{signature}", 1, nx=True, ex=ttl))
    except redis.RedisError:
        # Not open (audit L9): a solution still works once, here in this process's memory;
        # and not closed either, since sign-ups must go on through a Redis restart.
        logger.error("sign-up challenge replay store: Redis unavailable, using process memory")
        return _LOCAL.first_use(signature, ttl)


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
