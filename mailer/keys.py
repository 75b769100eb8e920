"""Key handling: the keys' strength (length, and not guessable: key_strength), the old keys
that still verify, per-purpose keys.

Rotation (audit L5): the new key goes in SECRET_KEY and the old ones in
SECRET_KEY_FALLBACKS (newest first). Everything is signed with SECRET_KEY only, and verified
with SECRET_KEY and then each fallback, so a link or a VERP address in mail already sent
keeps working: link tokens (`tokens`), VERP signatures (`verp`) and session cookies (Flask's
own SECRET_KEY_FALLBACKS).

The keyed address hash (suppression list, the address hash in every link token) must not
change with SECRET_KEY, or rotating it would forget who asked never to be mailed again. It
is keyed by ADDRESS_HASH_KEY, or by a key derived from SECRET_KEY when that is unset; so a
rotation (any fallback listed) needs ADDRESS_HASH_KEY set, and `mailer keys
address-hash-key` prints the value that keeps today's hashes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, MutableMapping
from typing import Any

from flask import current_app, request

from mailer import key_strength
from mailer.config_check import ConfigError

MIN_SECRET_KEY_BYTES = 32
# The README's recipes (Keys and rotation; Serving).
SECRET_KEY_RECIPE = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
ADDRESS_HASH_KEY_RECIPE = """python -c 'import secrets; print("hex:" + secrets.token_hex(32))'"""
# Prints the hash key a production key derives, where production refuses that key to start.
PIN_COMMAND = "MAILER_ENV=development BASE_URL=http://127.0.0.1:5000 mailer keys address-hash-key"


class KeyConfigError(ConfigError):
    """SECRET_KEY, SECRET_KEY_FALLBACKS or ADDRESS_HASH_KEY cannot be used as set."""


def check_keys(cfg: MutableMapping[str, Any]) -> None:
    """Refuse weak or inconsistent keys at start; normalise SECRET_KEY_FALLBACKS to a list.

    Every fallback still verifies session cookies, links and VERP addresses, so a weak old
    key is as good as a weak SECRET_KEY to a forger: each one needs the same strength.
    """
    fallbacks = cfg.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str):
        fallbacks = fallbacks.replace(",", " ").split()
    cfg["SECRET_KEY_FALLBACKS"] = [str(key) for key in fallbacks if key]
    if cfg.get("MAILER_ENV") == "development":
        return
    secret = str(cfg["SECRET_KEY"])
    weakness = _weakness(secret.encode(), secret)
    if weakness:
        raise KeyConfigError(
            f"SECRET_KEY {weakness}: it signs every link in mail and every session. Use a long"
            f" random value, for example: {SECRET_KEY_RECIPE}. Never list a weak or leaked"
            " key in SECRET_KEY_FALLBACKS: it would still let anyone forge sessions and links."
            " Only when replacing a key already in use: pin ADDRESS_HASH_KEY first to what"
            f" `{PIN_COMMAND}` prints with the old key still set, or the suppression list is"
            " forgotten (see README, Keys and rotation)."
        )
    for position, key in enumerate(cfg["SECRET_KEY_FALLBACKS"], start=1):
        weakness = _weakness(key.encode(), key)
        if weakness:
            raise KeyConfigError(
                f"SECRET_KEY_FALLBACKS: key number {position} {weakness}. Fallbacks still"
                " verify sessions, links and VERP addresses, so a weak one lets anyone forge"
                " them: remove it (links signed with it stop working; see README, Keys and"
                " rotation)."
            )
    _check_address_hash_key(cfg)


def _weakness(key: bytes, text: str, counted: str = "") -> str | None:
    """What is wrong with a key (its bytes, and the text they were written as), or None."""
    if len(key) < MIN_SECRET_KEY_BYTES:
        return f"is shorter than {MIN_SECRET_KEY_BYTES} bytes{counted}"
    if key_strength.guessable(text):
        return f"looks guessable ({key_strength.WHAT})"
    return None


def _check_address_hash_key(cfg: Mapping[str, Any]) -> None:
    explicit = str(cfg.get("ADDRESS_HASH_KEY") or "")
    if explicit.startswith("hex:") and not _is_hex(explicit[4:]):
        raise KeyConfigError("ADDRESS_HASH_KEY starts with hex: but is not hexadecimal after it.")
    counted = " (after hex: the decoded bytes count)"
    weakness = _weakness(_key_bytes(explicit), explicit.removeprefix("hex:").lower(), counted)
    if explicit and weakness:
        raise KeyConfigError(
            f"ADDRESS_HASH_KEY {weakness}: a weak key lets"
            " anyone who sees a hash guess the address. Make one with"
            f" {ADDRESS_HASH_KEY_RECIPE}, or `mailer keys address-hash-key`, run without"
            " ADDRESS_HASH_KEY set, prints a 32-byte key derived from SECRET_KEY. A new key"
            " forgets the suppression list (see README, Keys and rotation)."
        )
    if cfg["SECRET_KEY_FALLBACKS"] and not explicit:
        raise KeyConfigError(
            "SECRET_KEY_FALLBACKS is set but ADDRESS_HASH_KEY is not. The suppression list"
            " and the links already mailed are keyed by a key derived from SECRET_KEY, so a"
            " new SECRET_KEY would forget them. With the old SECRET_KEY in place (no"
            " fallbacks), run `mailer keys address-hash-key`, set ADDRESS_HASH_KEY to what"
            " it prints, then rotate (see README, Keys and rotation)."
        )


def _key_bytes(setting: str) -> bytes:
    """The key bytes an ADDRESS_HASH_KEY setting stands for: hex:... decoded, else UTF-8."""
    if setting.startswith("hex:"):
        return bytes.fromhex(setting[4:])
    return setting.encode()


def _is_hex(value: str) -> bool:
    try:
        return bool(bytes.fromhex(value))
    except ValueError:
        return False


def verification_keys(cfg: Mapping[str, Any] | None = None) -> list[str]:
    """SECRET_KEY, then the fallbacks: every key a signature may have been made with."""
    cfg = cfg if cfg is not None else current_app.config
    return [str(cfg["SECRET_KEY"]), *(cfg.get("SECRET_KEY_FALLBACKS") or ())]


@functools.lru_cache(maxsize=16)
def derive(secret: str, purpose: str) -> bytes:
    """The key for `purpose` derived from `secret` (HMAC-SHA256 as the KDF)."""
    return hmac.new(secret.encode(), f"mailer.{purpose}".encode(), hashlib.sha256).digest()


def derived_key(purpose: str) -> bytes:
    """A key for one purpose only, derived from SECRET_KEY (HMAC-SHA256 as the KDF)."""
    return derive(str(current_app.config["SECRET_KEY"]), purpose)


def derived_keys(purpose: str) -> list[bytes]:
    """The key for one purpose from SECRET_KEY, then from each fallback (to decrypt or verify)."""
    return [derive(secret, purpose) for secret in verification_keys()]


def address_hash_key_setting(cfg: Mapping[str, Any]) -> str:
    """The ADDRESS_HASH_KEY value that keeps the address hashes made with today's settings."""
    explicit = cfg.get("ADDRESS_HASH_KEY")
    if explicit:
        return str(explicit)
    return "hex:" + derive(str(cfg["SECRET_KEY"]), "address-hash").hex()


def client_network(ip: str) -> str:
    """The address a per-IP limit counts: an IPv4 address, or the /64 of an IPv6 one.

    An IPv6 host usually holds a whole /64, so counting single addresses would let it
    pick a new one per request.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else addr)


def rate_limit_key() -> str:
    """Flask-Limiter's key: a keyed hash of the client's address, never the address (L2).

    `request.remote_addr` is the real client only behind TRUSTED_PROXIES (ProxyFix).
    """
    network = client_network(request.remote_addr or "unknown")
    digest = hmac.new(derived_key("rate-limit"), network.encode(), hashlib.sha256)
    return digest.hexdigest()[:24]
