"""Signed, purpose-salted tokens for links in mail (itsdangerous)."""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import (
    BadData,
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

from mailer.keys import verification_keys


class InvalidToken(Exception):
    """The token is malformed, tampered with or for another purpose."""


class ExpiredToken(InvalidToken):
    """The token was genuine but is too old; `data` is its (verified) payload."""

    def __init__(self, data: Any) -> None:
        super().__init__("token expired")
        self.data = data


@functools.lru_cache(maxsize=64)
def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"mailer.{purpose}")


class _TokenMaker:
    """`URLSafeTimedSerializer.dumps` for one purpose, with the signing key derived once.

    The digest engine makes two tokens per message; itsdangerous derives the key, builds a
    signer and tries zlib on every call (about 40 µs a token, measured with `make bench`).
    The same signer, key and algorithm make the same token format, which `read_token`
    verifies with itsdangerous itself; only the compression try is left out, which
    itsdangerous reads either way (a compressed payload is marked with a leading ".").
    """

    def __init__(self, serializer: URLSafeTimedSerializer) -> None:
        signer = serializer.make_signer()
        assert isinstance(signer, TimestampSigner)
        self._signer = signer
        self._key = self._signer.derive_key()
        self._sep = want_bytes(self._signer.sep)

    def __call__(self, data: dict[str, Any]) -> str:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = base64_encode(int_to_bytes(self._signer.get_timestamp()))
        value = base64_encode(payload) + self._sep + stamp
        signature = base64_encode(self._signer.algorithm.get_signature(self._key, value))
        return (value + self._sep + signature).decode()


@functools.lru_cache(maxsize=32)
def _maker(secret_key: str, purpose: str) -> _TokenMaker:
    return _TokenMaker(URLSafeTimedSerializer(secret_key, salt=f"mailer.{purpose}"))


def make_token(purpose: str, data: dict[str, Any]) -> str:
    """Sign `data` for one purpose (confirm, unsubscribe, preferences, ...)."""
    return _maker(current_app.config["SECRET_KEY"], purpose)(data)


def read_token(purpose: str, token: str, max_age: timedelta | None = None) -> dict[str, Any]:
    """Verify a token and return its payload; raise InvalidToken or ExpiredToken.

    Made with SECRET_KEY or any of SECRET_KEY_FALLBACKS (links mailed before a rotation).
    """
    if len(token) > 512:
        raise InvalidToken("token too long")
    seconds = int(max_age.total_seconds()) if max_age is not None else None
    for key in verification_keys():
        serializer = _serializer(key, purpose)
        try:
            data = serializer.loads(token, max_age=seconds)
        except SignatureExpired as exc:
            # The signature was checked before the age, so the payload is genuine.
            raise ExpiredToken(serializer.load_payload(exc.payload or b"")) from None
        except BadSignature:
            continue  # perhaps signed with an older key
        except (BadData, UnicodeError, ValueError):
            raise InvalidToken("bad token") from None
        if not isinstance(data, dict):
            raise InvalidToken("bad payload")
        return data
    raise InvalidToken("bad token")
