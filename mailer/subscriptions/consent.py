"""Consent records: what a reader agreed to, when, to which wording (CONSENT_VERSION, in the
language it was shown in), through which form and lists, from a keyed hash of the network.

Signing up, confirming and joining a list from the preferences page each record one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app

from mailer.models import ConsentRecord, Subscriber
from mailer.privacy import ip_hash


def consent_values(
    action: str, source: str, slugs: Sequence[str], ip: str | None, language: str | None
) -> dict[str, Any]:
    """The columns of a consent record (`language`: the wording's, as shown)."""
    return {
        "action": action,
        "consent_version": current_app.config["CONSENT_VERSION"],
        "language": language,
        "source": source[:64],
        "lists": ",".join(slugs)[:500],
        "ip_hash": ip_hash(ip),
    }


def record_consent(
    subscriber: Subscriber,
    action: str,
    source: str,
    slugs: Sequence[str],
    ip: str | None,
    language: str | None = None,
) -> None:
    """Add a consent record to the subscriber (the caller flushes)."""
    subscriber.consents.append(ConsentRecord(**consent_values(action, source, slugs, ip, language)))
