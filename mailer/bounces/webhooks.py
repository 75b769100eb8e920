"""Provider webhooks (Amazon SES via SNS, Mailgun): authenticated, recorded like bounce mail.

Only the signed VERP token in the envelope sender (Return-Path) attributes an event, as for
bounce mail; the recipient address a provider reports is never used. An event without a valid
token is recorded as unattributed and changes nothing. If a provider also forwards bounce mail
to the bounce domain, turn that off: the two paths do not dedupe against each other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from mailer.bounces.parse import DIAGNOSTIC_KEPT, ParsedBounce
from mailer.bounces.service import add_event, apply_policy, attribute
from mailer.bounces.sns import fetch, is_aws_url, is_sns_message, verify_sns
from mailer.controls import one_line
from mailer.extensions import csrf, db
from mailer.models import BounceEvent, BounceKind, utcnow
from mailer.numbers import whole_number
from mailer.privacy import redact

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
csrf.exempt(bp)  # the provider's signature is the credential

MAX_BODY = 1024 * 1024  # SNS messages are at most 256 KB
MAILGUN_MAX_AGE = 300  # seconds a Mailgun signature stays valid (and its token remembered)
_STATUS = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


@dataclass
class WebhookEvent:
    """One provider event: its dedupe key, what happened, and the addresses that may be VERP."""

    key: str
    kind: BounceKind
    candidates: list[str] = field(default_factory=list)
    status: str | None = None
    diagnostic: str | None = None


def record_event(event: WebhookEvent) -> BounceEvent | None:
    """Record a provider event once and apply the policy; None for a duplicate (caller commits)."""
    who = attribute(ParsedBounce(event.kind, verp_candidates=event.candidates), [])
    row = add_event(
        who,
        message_hash=hashlib.sha256(event.key.encode()).hexdigest(),
        kind=event.kind,
        status=event.status,
        diagnostic=event.diagnostic,
        received_at=utcnow(),
    )
    if row is None:
        logger.info("webhook %s: duplicate of a recorded event, ignored", event.key)
        return None
    action = apply_policy(row, who.subscriber)
    logger.info(
        "webhook %s: %s, delivery %s, digest %s, subscriber %s%s%s",
        event.key,
        event.kind.value,
        who.delivery_id,
        who.digest_id,
        row.subscriber_id,
        "" if who.attributed else " (unattributed: no valid VERP token)",
        f", {action}" if action else "",
    )
    return row


# --- Amazon SES through SNS ------------------------------------------------------------------


@bp.post("/ses")
def ses() -> ResponseReturnValue:
    """Amazon SES bounce and complaint events, delivered by an SNS subscription."""
    message = _json_body()
    if not is_sns_message(message):
        return _error(400, "malformed", "Not an SNS message.")
    problem = verify_sns(message)
    if problem is not None:
        logger.warning("SNS message %s refused: %s", message.get("MessageId"), problem)
        if problem == "certificate_unavailable":
            return _error(503, problem, "The signing certificate could not be fetched.")
        return _error(403, problem, "The message is not signed for an allowed topic.")
    if message["Type"] == "SubscriptionConfirmation":
        return _confirm_subscription(message)
    if message["Type"] != "Notification":
        return jsonify(status="ignored")
    try:
        event = ses_event(message["MessageId"], json.loads(message["Message"]))
    except ValueError:
        return _error(400, "malformed", "The SNS message does not hold an SES event.")
    return _record(event)


def _confirm_subscription(message: dict[str, Any]) -> ResponseReturnValue:
    topic, url = message["TopicArn"], message["SubscribeURL"]
    if not is_aws_url(url):
        logger.warning("SNS subscription to %s: SubscribeURL host refused", topic)
        return _error(403, "subscribe_url_refused", "The SubscribeURL is not an AWS address.")
    try:
        fetch(url, float(current_app.config["SES_SNS_TIMEOUT"]))
    except (OSError, ValueError) as exc:
        logger.warning("SNS subscription to %s: confirmation failed: %s", topic, exc)
        return _error(502, "confirmation_failed", "The subscription could not be confirmed.")
    logger.info("SNS subscription to %s confirmed", topic)
    return jsonify(status="confirmed")


def ses_event(message_id: str, body: Any) -> WebhookEvent | None:
    """The bounce or complaint an SES event reports; None for other event types."""
    if not isinstance(body, dict):
        raise ValueError("not an SES event")
    mail = _dict(body.get("mail"))
    common = _dict(mail.get("commonHeaders"))
    headers = [h for h in _list(mail.get("headers")) if isinstance(h, dict)]
    candidates = _addresses(
        [mail.get("source")]
        + [v for k, v in common.items() if k.lower() == "returnpath"]
        + [h.get("value") for h in headers if str(h.get("name", "")).lower() == "return-path"]
    )
    key = f"ses:{message_id}"
    event_type = body.get("eventType") or body.get("notificationType")
    if event_type == "Bounce":
        bounce = _dict(body.get("bounce"))
        kinds = {"Permanent": BounceKind.hard, "Transient": BounceKind.soft}
        kind = kinds.get(str(bounce.get("bounceType")), BounceKind.unknown)
        recipients = [r for r in _list(bounce.get("bouncedRecipients")) if isinstance(r, dict)]
        first = recipients[0] if recipients else {}
        text = first.get("diagnosticCode") or bounce.get("bounceSubType")
        return WebhookEvent(key, kind, candidates, _status(first.get("status")), _diagnostic(text))
    if event_type == "Complaint":
        feedback = _dict(body.get("complaint")).get("complaintFeedbackType")
        kind = BounceKind.unknown if feedback == "not-spam" else BounceKind.complaint
        return WebhookEvent(key, kind, candidates, None, _diagnostic(feedback))
    return None


# --- Mailgun ---------------------------------------------------------------------------------


@bp.post("/mailgun")
def mailgun() -> ResponseReturnValue:
    """Mailgun's failed and complained events (signed with the webhook signing key)."""
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("event-data"), dict):
        return _error(400, "malformed", "Not a Mailgun webhook.")
    problem = verify_mailgun(body.get("signature"))
    if problem is not None:
        logger.warning("Mailgun webhook refused: %s", problem)
        return _error(403, problem, "The webhook signature is not valid.")
    return _record(mailgun_event(body["event-data"]))


def verify_mailgun(signature: Any) -> str | None:
    """None for a fresh, unused, correctly signed Mailgun signature; else why it is refused."""
    key = current_app.config["MAILGUN_WEBHOOK_SIGNING_KEY"]
    if not key:
        return "not_configured"
    sig = _dict(signature)
    timestamp, token, given = (str(sig.get(n, "")) for n in ("timestamp", "token", "signature"))
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(expected.encode(), given.encode()):
        return "bad_signature"
    sent_at = whole_number(timestamp)
    if sent_at is None or abs(time.time() - sent_at) > MAILGUN_MAX_AGE:
        return "stale_timestamp"
    redis = current_app.extensions["redis"]
    token_key = f"mailer:webhooks:mailgun:{hashlib.sha256(token.encode()).hexdigest()}"
    if not redis.set(token_key, 1, nx=True, ex=2 * MAILGUN_MAX_AGE):
        return "replayed"
    return None


def mailgun_event(data: dict[str, Any]) -> WebhookEvent | None:
    """The bounce or complaint a Mailgun event reports; None for other events."""
    message = _dict(data.get("message"))
    headers = _dict(message.get("headers"))
    candidates = _addresses(
        [_dict(data.get("envelope")).get("sender")]
        + [v for k, v in headers.items() if k.lower() == "return-path"]
    )
    key = f"mailgun:{data.get('id') or hashlib.sha256(repr(data).encode()).hexdigest()}"
    if data.get("event") == "failed":
        kinds = {"permanent": BounceKind.hard, "temporary": BounceKind.soft}
        kind = kinds.get(str(data.get("severity")), BounceKind.unknown)
        status = _dict(data.get("delivery-status"))
        text = status.get("description") or status.get("message") or data.get("reason")
        code = _status(status.get("enhanced-code")) or _status(status.get("message"))
        return WebhookEvent(key, kind, candidates, code, _diagnostic(text))
    if data.get("event") == "complained":
        return WebhookEvent(key, BounceKind.complaint, candidates)
    return None


# --- shared ----------------------------------------------------------------------------------


def _record(event: WebhookEvent | None) -> ResponseReturnValue:
    if event is None:
        return jsonify(status="ignored")
    row = record_event(event)
    db.session.commit()
    return jsonify(status="recorded" if row is not None else "duplicate")


def _json_body() -> Any:
    request.max_content_length = MAX_BODY
    try:
        return json.loads(request.get_data())
    except ValueError:
        return None


def _error(status: int, code: str, message: str) -> ResponseReturnValue:
    return jsonify(error={"code": code, "message": message}), status


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _addresses(values: list[Any]) -> list[str]:
    parsed = (parseaddr(v)[1] for v in values if isinstance(v, str))
    return [a for a in parsed if a]


def _status(value: Any) -> str | None:
    match = _STATUS.search(value) if isinstance(value, str) else None
    return match.group(0) if match else None


def _diagnostic(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return redact(one_line(value))[:DIAGNOSTIC_KEPT]
