"""VERP envelope senders: bounces+<token>.<signature>@<bounce domain> name what bounced.

Three kinds of token: `<delivery id>` for a digest delivery, `c<subscriber id>` for a
confirmation (or other one-off) mail to a subscriber, and `u<delivery id>` for the mailto: of
a digest's List-Unsubscribe header (mail to it unsubscribes that reader from that list).
The signature (a keyed HMAC) means a forged bounce cannot point at a delivery it did not
get; the confirmation kind also signs the subscriber's address hash, so that a reused
subscriber id never matches an old token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass

from flask import current_app

from mailer.delivery.message import sender_address
from mailer.keys import verification_keys

_TOKEN = re.compile(r"^(?P<kind>[cu]?)(?P<id>\d{1,18})\.(?P<sig>[0-9a-f]{12})$")
_KINDS = {"": "delivery", "c": "confirmation", "u": "unsubscribe"}


@dataclass(frozen=True)
class VerpToken:
    """A token read from an address: not yet verified when kind is "confirmation"."""

    kind: str  # "delivery" | "confirmation" | "unsubscribe"
    id: int
    signature: str


def _signature(message: str, key: str | None = None) -> str:
    secret = key if key is not None else str(current_app.config["SECRET_KEY"])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:12]


def _signed(signature: str, message: str) -> bool:
    """Whether SECRET_KEY or one of its fallbacks (mail sent before a rotation) signed it."""
    return any(
        hmac.compare_digest(signature, _signature(message, key)) for key in verification_keys()
    )


@functools.lru_cache(maxsize=8)
def _parts(mail_from: str, local: str | None, domain: str | None) -> tuple[str, str]:
    own_local, _, own_domain = sender_address(mail_from).partition("@")
    return local or own_local, domain or own_domain


def _address(token: str) -> str:
    cfg = current_app.config
    local, domain = _parts(cfg["MAIL_FROM"], cfg.get("BOUNCE_LOCAL_PART"), cfg.get("BOUNCE_DOMAIN"))
    return f"{local}+{token}@{domain}"


def verp_address(delivery_id: int) -> str:
    """The envelope sender (Return-Path) of one delivery."""
    return _address(f"{delivery_id}.{_signature(f'verp:{delivery_id}')}")


def unsubscribe_mailto(delivery_id: int) -> str:
    """The mailto: of a delivery's List-Unsubscribe: mail to it unsubscribes (RFC 2369)."""
    address = _address(f"u{delivery_id}.{_signature(f'verp-u:{delivery_id}')}")
    return f"mailto:{address}?subject=unsubscribe"


def unsubscribe_from_verp(address: str) -> int | None:
    """The delivery an unsubscribe address names, or None when it is not ours or is forged."""
    token = read_verp(address)
    if token is None or token.kind != "unsubscribe":
        return None
    if not _signed(token.signature, f"verp-u:{token.id}"):
        return None
    return token.id


def confirmation_verp_address(subscriber_id: int, address_hash: str) -> str:
    """The envelope sender of a one-off mail (confirmation) to one subscriber."""
    sig = _signature(f"verp-c:{subscriber_id}:{address_hash}")
    return _address(f"c{subscriber_id}.{sig}")


def read_verp(address: str) -> VerpToken | None:
    """The token in a VERP-looking address (signature not checked), or None."""
    local = address.strip().strip("<>").partition("@")[0]
    _, plus, token = local.partition("+")
    match = _TOKEN.match(token.lower()) if plus else None
    if match is None:
        return None
    return VerpToken(_KINDS[match["kind"]], int(match["id"]), match["sig"])


def delivery_from_verp(address: str) -> int | None:
    """The delivery id a VERP address names, or None when it is not ours or is forged."""
    token = read_verp(address)
    if token is None or token.kind != "delivery":
        return None
    if not _signed(token.signature, f"verp:{token.id}"):
        return None
    return token.id


def confirmation_token_valid(token: VerpToken, address_hash: str) -> bool:
    """Whether a confirmation token was signed for this subscriber's address hash."""
    message = f"verp-c:{token.id}:{address_hash}"
    return token.kind == "confirmation" and _signed(token.signature, message)
