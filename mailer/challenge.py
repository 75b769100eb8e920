"""Self-hosted proof of work for the sign-up form (altcha v1: SHA-256, no third party)."""

from __future__ import annotations

import base64
import binascii
import json
import logging

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
        logger.warning("cannot record a used sign-up challenge: Redis unavailable")
        return True  # the signature and expiry were still checked
