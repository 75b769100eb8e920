"""Keyed hashes of addresses and IPs, and the log filter that keeps addresses out of logs.

`redact` lives in mailer.redaction and is re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging

from flask import current_app

from mailer.keys import derive
from mailer.redaction import redact

MAX_ADDRESS_LENGTH = 254


class InvalidAddress(ValueError):
    """The address is not a syntactically valid email address."""


def normalise_email(raw: str) -> str:
    """Strip, validate (no DNS) and lower-case an address; raise InvalidAddress."""
    value = raw.strip()
    if not value or len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress("Enter a valid email address.")
    # Imported at the first address (~40 ms): not paid by every `mailer` command's start.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return result.normalized.lower()


def _key() -> bytes:
    cfg = current_app.config
    return _derive_key(str(cfg.get("ADDRESS_HASH_KEY") or ""), str(cfg["SECRET_KEY"]))


@functools.lru_cache(maxsize=8)
def _derive_key(explicit: str, secret: str) -> bytes:
    if explicit:
        # "hex:..." is what `mailer keys address-hash-key` prints: a derived key kept as is.
        return bytes.fromhex(explicit[4:]) if explicit.startswith("hex:") else explicit.encode()
    return derive(secret, "address-hash")


def address_hash(email: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a normalised address; a plain hash is reversible."""
    return hmac.new(_key(), email.encode(), hashlib.sha256).hexdigest()


def ip_hash(ip: str | None) -> str | None:
    """Keyed, truncated hash of the IP's /24 or /48 network: spots abuse, not a person."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    network = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    digest = hmac.new(_key(), b"ip:" + str(network).encode(), hashlib.sha256).hexdigest()
    return digest[:16]


class RedactingLogRecord(logging.LogRecord):
    """A log record whose message and traceback never carry an email address."""

    def getMessage(self) -> str:  # noqa: N802 (stdlib name)
        return redact(super().getMessage())


def _make_record(*args: object, **kwargs: object) -> logging.LogRecord:
    record = RedactingLogRecord(*args, **kwargs)  # type: ignore[arg-type]
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


def install_log_redaction() -> None:
    """Make every log record, from any library, redact addresses (idempotent)."""
    logging.setLogRecordFactory(_make_record)
