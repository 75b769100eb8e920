"""VERP envelope senders: bounces+<delivery id>.<signature>@<bounce domain> names its delivery.

The signature (a keyed HMAC) means a forged bounce cannot point at a delivery it did not get.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app

from mailer.delivery.message import sender_address

_TOKEN = re.compile(r"^(?P<id>\d+)\.(?P<sig>[0-9a-f]{12})$")


def _signature(delivery_id: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"verp:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:12]


def verp_address(delivery_id: int) -> str:
    """The envelope sender (Return-Path) of one delivery."""
    cfg = current_app.config
    local, _, domain = sender_address(cfg["MAIL_FROM"]).partition("@")
    local = cfg.get("BOUNCE_LOCAL_PART") or local
    domain = cfg.get("BOUNCE_DOMAIN") or domain
    return f"{local}+{delivery_id}.{_signature(delivery_id)}@{domain}"


def delivery_from_verp(address: str) -> int | None:
    """The delivery id a VERP address names, or None when it is not ours or is forged."""
    local = address.strip("<>").partition("@")[0]
    _, plus, token = local.partition("+")
    match = _TOKEN.match(token) if plus else None
    if match is None:
        return None
    delivery_id = int(match["id"])
    if not hmac.compare_digest(match["sig"], _signature(delivery_id)):
        return None
    return delivery_id
