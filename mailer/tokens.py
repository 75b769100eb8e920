"""Signed, purpose-salted tokens for links in mail (itsdangerous)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class InvalidToken(Exception):
    """The token is malformed, tampered with or for another purpose."""


class ExpiredToken(InvalidToken):
    """The token was genuine but is too old; `data` is its (verified) payload."""

    def __init__(self, data: Any) -> None:
        super().__init__("token expired")
        self.data = data


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"mailer.{purpose}")


def make_token(purpose: str, data: dict[str, Any]) -> str:
    """Sign `data` for one purpose (confirm, unsubscribe, preferences, ...)."""
    return _serializer(purpose).dumps(data)


def read_token(purpose: str, token: str, max_age: timedelta | None = None) -> dict[str, Any]:
    """Verify a token and return its payload; raise InvalidToken or ExpiredToken."""
    serializer = _serializer(purpose)
    if len(token) > 512:
        raise InvalidToken("token too long")
    try:
        seconds = int(max_age.total_seconds()) if max_age is not None else None
        data = serializer.loads(token, max_age=seconds)
    except SignatureExpired as exc:
        # The signature was checked before the age, so the payload is genuine.
        raise ExpiredToken(serializer.load_payload(exc.payload or b"")) from None
    except (BadSignature, UnicodeError, ValueError):
        raise InvalidToken("bad token") from None
    if not isinstance(data, dict):
        raise InvalidToken("bad payload")
    return data
