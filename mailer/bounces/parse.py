"""Read bounce mail: DSN (RFC 3464), ARF (RFC 5965), auto-replies, and other formats.

The parser says what happened (kind, status, diagnostic) and which of our VERP addresses the
message names; it never picks a recipient out of free text. Attribution is the service's job,
from the signed VERP token only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from mailer.controls import one_line
from mailer.models import BounceKind
from mailer.privacy import redact
from mailer.verp import read_verp

logger = logging.getLogger(__name__)

DIAGNOSTIC_LENGTH = 500
# What a parser keeps: more than the column, so that the cut to DIAGNOSTIC_LENGTH comes after
# the subscriber's own scrub (cut first, and "<amina" could survive a cut inside "<amina>").
DIAGNOSTIC_KEPT = 4 * DIAGNOSTIC_LENGTH
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|"
    r"autoreply|vacation|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[áa]tica)",
    re.IGNORECASE,
)
# Where a bounce names the address it was sent to: our VERP address when the MTA kept it.
_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "to")
_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}


@dataclass
class ParsedBounce:
    """What one inbound message says."""

    kind: BounceKind
    status: str | None = None
    diagnostic: str | None = None
    message_id: str | None = None
    # Addresses of ours the message was sent to or names as the original sender (VERP
    # candidates), in order of trust: envelope first, then headers, then the original's.
    verp_candidates: list[str] = field(default_factory=list)
    fallback_used: bool = False


def parse(raw: bytes, envelope_to: list[str]) -> ParsedBounce:
    """Classify a raw inbound message and collect its VERP candidates."""
    msg = message_from_bytes(raw)
    parsed = _classify(msg)
    parsed.message_id = _header(msg, "message-id")
    parsed.verp_candidates = _candidates(msg, envelope_to)
    if parsed.diagnostic:
        text = one_line(parsed.diagnostic)
        parsed.diagnostic = redact(text)[:DIAGNOSTIC_KEPT]
    return parsed


def recipient_addresses(raw: bytes) -> list[str]:
    """The addresses of the message's own Delivered-To, X-Original-To, Envelope-To and To.

    Over IMAP there is no envelope: these headers are where the address the message was
    sent to (a List-Unsubscribe mailto:, say) survives. Only the outer headers are read.
    """
    headers = BytesHeaderParser().parsebytes(raw)
    found = []
    for name in _RECIPIENT_HEADERS:
        found += [addr for _, addr in getaddresses([str(v) for v in headers.get_all(name, [])])]
    return [a for a in dict.fromkeys(a.strip().strip("<>") for a in found) if a]


def message_hash(raw: bytes, message_id: str | None, recipient: str) -> str:
    """The dedupe key: Message-ID and our envelope recipient, or the raw message's digest."""
    if message_id:
        return hashlib.sha256(f"{message_id.strip()}\n{recipient.lower()}".encode()).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def _classify(msg: Message) -> ParsedBounce:
    report = _report_type(msg)
    if report == "delivery-status":
        return _from_dsn(msg)
    if report == "feedback-report":
        return _from_arf(msg)
    if _is_auto_reply(msg, strong_only=True):
        return ParsedBounce(BounceKind.auto_reply)
    fallback = _from_fallback(msg)
    if fallback is not None:
        return fallback
    if _is_auto_reply(msg, strong_only=False):
        return ParsedBounce(BounceKind.auto_reply)
    return ParsedBounce(BounceKind.unknown)


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    return str(value).strip() if value is not None else None


def _report_type(msg: Message) -> str | None:
    if msg.get_content_type() != "multipart/report":
        return None
    value = msg.get_param("report-type")
    return value.lower() if isinstance(value, str) else None


def _parts(msg: Message, content_type: str) -> list[Message]:
    return [p for p in msg.walk() if p.get_content_type() == content_type]


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses each block as a Message
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):  # e.g. sent as text/plain or base64: parse it ourselves
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else payload
        return [message_from_bytes(b.encode()) for b in re.split(r"\r?\n\s*\r?\n", text) if b]
    return []


def _from_dsn(msg: Message) -> ParsedBounce:
    """RFC 3464: the per-recipient block with Action failed (or the first) decides."""
    blocks = [b for part in _parts(msg, "message/delivery-status") for b in _field_blocks(part)]
    per_recipient = [b for b in blocks if b.get("action") or b.get("final-recipient")]
    if not per_recipient:
        return _from_fallback(msg) or ParsedBounce(BounceKind.unknown)
    failed = [b for b in per_recipient if str(b.get("action", "")).strip().lower() == "failed"]
    block = (failed or per_recipient)[0]
    action = str(block.get("action", "")).strip().lower()
    diagnostic = _header(block, "diagnostic-code")
    status = _status(_header(block, "status")) or _status(diagnostic)
    if action in ("delayed", "relayed", "delivered", "expanded"):
        kind = BounceKind.delay if action == "delayed" else BounceKind.unknown
    elif status is None:
        kind = _kind_from_smtp_code(diagnostic)
    else:
        kind = BounceKind.hard if status.startswith("5") else BounceKind.soft
    if diagnostic:
        diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", diagnostic, flags=re.IGNORECASE)
    return ParsedBounce(kind, status=status, diagnostic=diagnostic)


def _status(text: str | None) -> str | None:
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def _kind_from_smtp_code(diagnostic: str | None) -> BounceKind:
    match = re.search(r"\b([45])\d\d\b", diagnostic or "")
    if match is None:
        return BounceKind.unknown
    return BounceKind.hard if match.group(1) == "5" else BounceKind.soft


def _from_arf(msg: Message) -> ParsedBounce:
    """RFC 5965: an abuse (spam) report is a complaint; "not-spam" and the like are not."""
    blocks = [b for part in _parts(msg, "message/feedback-report") for b in _field_blocks(part)]
    feedback = next((str(b["feedback-type"]) for b in blocks if b.get("feedback-type")), "")
    feedback = feedback.strip().lower()
    kind = BounceKind.complaint if feedback in _COMPLAINT_TYPES else BounceKind.unknown
    return ParsedBounce(kind, diagnostic=f"feedback-type: {feedback or 'missing'}")


def _is_auto_reply(msg: Message, *, strong_only: bool) -> bool:
    """RFC 3834 and the common vendor headers; Auto-Submitted alone is weak (Exim bounces)."""
    if msg.get("x-autoreply") or msg.get("x-autorespond") or msg.get("x-autoresponse"):
        return True
    if str(msg.get("precedence", "")).strip().lower() == "auto_reply":
        return True
    if _AUTO_SUBJECT.search(str(msg.get("subject", ""))):
        return True
    if strong_only:
        return False
    return str(msg.get("auto-submitted", "")).strip().lower().startswith("auto-replied")


def _from_fallback(msg: Message) -> ParsedBounce | None:
    """Non-standard bounces (Exim's, qmail's, old Exchange's): flufl.bounce's detectors.

    Only the kind is taken from them (temporary or permanent); the addresses they find in the
    text are not used, since the VERP token names the delivery.
    """
    if not msg.get("from"):
        return None  # not a bounce; and flufl.bounce's Yale detector fails without a From
    from flufl.bounce import all_failures  # ~30 ms of imports, for the odd bounce only

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector bug on odd input must not lose the message
        logger.warning("bounce fallback parser failed on a message; recorded as unknown")
        return None
    if not temporary and not permanent:
        return None
    kind = BounceKind.hard if permanent else BounceKind.soft
    text = _first_text(msg)
    status = _status(text)
    diagnostic = _diagnostic_line(text)
    return ParsedBounce(kind, status=status, diagnostic=diagnostic, fallback_used=True)


def _first_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return data.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _diagnostic_line(text: str) -> str | None:
    """The first line with an SMTP reply code in it (Exim: "SMTP error ... 550 ...")."""
    for line in text.splitlines():
        if re.search(r"\b[45]\d\d[ -]", line):
            return line.strip()
    return None


def _candidates(msg: Message, envelope_to: list[str]) -> list[str]:
    """Addresses that may carry our VERP token, most trusted first, without duplicates."""
    found: list[str] = list(envelope_to)
    for name in _RECIPIENT_HEADERS:
        found += [addr for _, addr in getaddresses([str(v) for v in msg.get_all(name, [])])]
    for part in msg.walk():  # the original's Return-Path (ARF, most DSNs), ARF's Mail-From
        if part.get_content_type() == "message/feedback-report":
            for block in _field_blocks(part):
                found += [a for _, a in getaddresses(block.get_all("original-mail-from", []))]
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            original = _original_headers(part)
            if original is not None:
                found += [a for _, a in getaddresses(original.get_all("return-path", []))]
    return [a for a in dict.fromkeys(a.strip().strip("<>") for a in found) if read_verp(a)]


def _original_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return message_from_bytes(data)
    return None
