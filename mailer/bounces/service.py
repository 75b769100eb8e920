"""Store inbound bounce mail, attribute it by its signed VERP token, and apply the policy.

Policy (issue 5): a hard bounce suppresses the address at once; soft bounces suppress it after
SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_WINDOW_DAYS; a complaint unsubscribes from every
list and suppresses. A hard or soft bounce leaves the subscriptions as they are: the
suppression alone stops every mail (the fan-out and the confirmation mail both check it), and
removing the suppression (`mailer suppress remove`) restores the subscriber as they were.
Bounces whose token is missing, unknown or forged are recorded as unattributed and change
nothing, so a forged bounce cannot unsubscribe anyone (nor pause a digest). Services flush;
callers commit, except that a hard bounce or complaint that pauses its sending digest
(mailer.digests.autopause) commits, so that the editors' mails are queued after the pause.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mailer.bounces.parse import (
    DIAGNOSTIC_LENGTH,
    ParsedBounce,
    message_hash,
    parse,
    recipient_addresses,
)
from mailer.controls import one_line, without_control_characters
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    BounceKind,
    Delivery,
    Digest,
    InboundMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from mailer.privacy import address_hash
from mailer.redaction import scrub
from mailer.subscriptions.service import suppress, unsubscribe_all
from mailer.verp import (
    confirmation_token_valid,
    delivery_from_verp,
    read_verp,
    unsubscribe_from_verp,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # processing tries of one stored message before the sweeper leaves it
AUTO_PAUSE_KINDS = (BounceKind.hard, BounceKind.complaint)  # may pause their digest


@dataclass
class Attribution:
    """What a verified VERP token names; `recipient` is the address used for the dedupe key."""

    recipient: str
    attributed: bool = False
    delivery_id: int | None = None
    digest_id: int | None = None
    subscriber: Subscriber | None = None


def store(raw: bytes, envelope_to: Sequence[str]) -> InboundMessage:
    """Keep a raw inbound message before anything else happens to it (the caller commits)."""
    # A control character in an envelope address (a NUL: PostgreSQL refuses it) is dropped;
    # such an address is no VERP of ours anyway.
    addresses = "\n".join(without_control_characters(a, multiline=False) for a in envelope_to)
    inbound = InboundMessage(
        raw=raw, size=len(raw), envelope_to=addresses[:1000], received_at=utcnow()
    )
    db.session.add(inbound)
    db.session.flush()
    return inbound


def record(raw: bytes, envelope_to: list[str]) -> BounceEvent | None:
    """Store and process one message; None when it duplicates a recorded bounce."""
    return process(store(raw, envelope_to))


def process(inbound: InboundMessage) -> BounceEvent | None:
    """Parse a stored message, record its event once, apply the policy, drop the raw text."""
    raw = inbound.raw or b""
    envelope_to = [a for a in inbound.envelope_to.split("\n") if a]
    delivery_id = unsubscribe_request(raw, envelope_to)
    if delivery_id is not None:
        inbound.processed_at, inbound.raw = utcnow(), None
        _unsubscribe_by_mail(inbound.id, delivery_id)
        return None
    parsed = parse(raw, envelope_to)
    who = attribute(parsed, envelope_to)
    inbound.processed_at, inbound.raw = utcnow(), None
    event = add_event(
        who,
        message_hash=message_hash(raw, parsed.message_id, who.recipient),
        kind=parsed.kind,
        inbound_id=inbound.id,
        status=parsed.status,
        diagnostic=parsed.diagnostic,
        received_at=inbound.received_at,
    )
    if event is None:
        logger.info("inbound %s: duplicate of a recorded bounce, ignored", inbound.id)
        return None
    action = apply_policy(event, who.subscriber)
    logger.info(
        "inbound %s: %s%s, delivery %s, digest %s, subscriber %s%s",
        inbound.id,
        parsed.kind.value,
        f" {parsed.status}" if parsed.status else "",
        who.delivery_id,
        who.digest_id,
        event.subscriber_id,
        "" if who.attributed else " (unattributed: no valid VERP token)",
    )
    if action:
        logger.info("inbound %s: subscriber %s %s", inbound.id, event.subscriber_id, action)
    return event


def unsubscribe_request(raw: bytes, envelope_to: Sequence[str]) -> int | None:
    """The delivery whose signed List-Unsubscribe mailto: this message was sent to, if any.

    The envelope (LMTP, SMTP) first; then the message's own recipient headers, since the
    IMAP poller has no envelope (audit M10). The signature is verified either way.
    """
    for address in [*envelope_to, *recipient_addresses(raw)]:
        delivery_id = unsubscribe_from_verp(address)
        if delivery_id is not None:
            return delivery_id
    return None


def add_event(who: Attribution, **fields: Any) -> BounceEvent | None:
    """Add an event with its attribution; None when its message hash was recorded before.

    Once the subscriber is known, the diagnostic also loses their address in any spelling
    and their local part alone ("<amina>... User unknown"), which no pattern can find.
    """
    if fields.get("diagnostic"):
        # Cut to the column only now, after the scrub: it can lengthen the text
        # ("[local-part]"), and a cut before it could leave a piece of the local part.
        diagnostic = one_line(fields["diagnostic"])
        if who.subscriber is not None:
            diagnostic = scrub(diagnostic, who.subscriber.email)
        fields["diagnostic"] = diagnostic[:DIAGNOSTIC_LENGTH]
    event = BounceEvent(
        attributed=who.attributed,
        delivery_id=who.delivery_id,
        digest_id=who.digest_id,
        subscriber_id=who.subscriber.id if who.subscriber is not None else None,
        **fields,
    )
    try:
        with db.session.begin_nested():
            db.session.add(event)
    except IntegrityError:
        db.session.flush()
        return None
    return event


def _unsubscribe_by_mail(inbound_id: int, delivery_id: int) -> None:
    """A reader mailed their List-Unsubscribe address: leave the list that digest came from."""
    delivery = db.session.get(Delivery, delivery_id)
    digest = db.session.get(Digest, delivery.digest_id) if delivery is not None else None
    if delivery is None or digest is None or delivery.subscriber_id is None:
        logger.info("inbound %s: unsubscribe mail for a gone delivery, ignored", inbound_id)
        return
    changed = db.session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == delivery.subscriber_id,
            Subscription.list_id == digest.list_id,
            Subscription.status != SubscriptionStatus.unsubscribed,
        )
        .values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    logger.info(
        "inbound %s: subscriber %s unsubscribed from list %s by mail (%s)",
        inbound_id,
        delivery.subscriber_id,
        digest.list_id,
        "done" if getattr(changed, "rowcount", 0) else "already",
    )


def attribute(parsed: ParsedBounce, envelope_to: Sequence[str]) -> Attribution:
    """The delivery and subscriber named by the first VERP candidate whose signature holds."""
    for candidate in parsed.verp_candidates:
        token = read_verp(candidate)
        if token is None:
            continue
        if token.kind == "delivery":
            delivery_id = delivery_from_verp(candidate)
            delivery = db.session.get(Delivery, delivery_id) if delivery_id else None
            if delivery is not None:
                subscriber = (
                    db.session.get(Subscriber, delivery.subscriber_id)
                    if delivery.subscriber_id is not None
                    else None  # erased since: the event keeps the counts only
                )
                return Attribution(candidate, True, delivery.id, delivery.digest_id, subscriber)
        else:
            subscriber = db.session.get(Subscriber, token.id)
            if subscriber is not None and confirmation_token_valid(
                token, address_hash(subscriber.email)
            ):
                return Attribution(candidate, True, subscriber=subscriber)
    fallback = parsed.verp_candidates[0] if parsed.verp_candidates else "\n".join(envelope_to)
    return Attribution(fallback)


def apply_policy(event: BounceEvent, subscriber: Subscriber | None) -> str | None:
    """Suppress or unsubscribe as the event's kind asks; say what was done.

    A hard bounce or a complaint about a digest's message then checks the digest's rates:
    past its list's limits it pauses itself (mailer.digests.autopause), which commits.
    """
    action = _suppress(event, subscriber)
    if event.kind in AUTO_PAUSE_KINDS and event.attributed and event.digest_id is not None:
        # Late: lifecycle queues tasks, whose modules import this one.
        from mailer.digests import lifecycle

        lifecycle.pause_if_over(event.digest_id)
    return action


def _suppress(event: BounceEvent, subscriber: Subscriber | None) -> str | None:
    if subscriber is None:
        return None
    if event.kind == BounceKind.hard:
        suppress(subscriber.email, SuppressionReason.hard_bounce)
        return "suppressed (hard bounce)"
    if event.kind == BounceKind.soft:
        limit = int(current_app.config["SOFT_BOUNCE_LIMIT"])
        if soft_bounce_count(subscriber.id) >= limit:
            suppress(subscriber.email, SuppressionReason.soft_bounce)
            return f"suppressed ({limit} soft bounces)"
        return None
    if event.kind == BounceKind.complaint:
        unsubscribe_all(subscriber)
        suppress(subscriber.email, SuppressionReason.complaint)
        return "unsubscribed from every list and suppressed (complaint)"
    return None


def soft_bounce_count(subscriber_id: int) -> int:
    """Soft bounces of one subscriber within SOFT_BOUNCE_WINDOW_DAYS."""
    since = utcnow() - timedelta(days=float(current_app.config["SOFT_BOUNCE_WINDOW_DAYS"]))
    count = db.session.scalar(
        select(func.count(BounceEvent.id)).where(
            BounceEvent.subscriber_id == subscriber_id,
            BounceEvent.kind == BounceKind.soft,
            BounceEvent.received_at >= since,
        )
    )
    return int(count or 0)


def unprocessed(older_than: timedelta, limit: int = 100) -> list[int]:
    """Stored messages whose processing never finished (a crash after the store), oldest first."""
    return list(
        db.session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.processed_at.is_(None),
                InboundMessage.raw.is_not(None),  # purged by the retention job: nothing to do
                InboundMessage.received_at < utcnow() - older_than,
                InboundMessage.attempts < MAX_ATTEMPTS,
            )
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


def count_attempt(inbound_id: int) -> bool:
    """Count one processing try of a stored message before making it (the caller commits)."""
    inbound = db.session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.processed_at is not None:
        return False
    inbound.attempts += 1
    db.session.flush()
    return True


def process_stored(inbound_id: int) -> BounceEvent | None:
    """Process one stored message by id if it is still unprocessed."""
    inbound = db.session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.processed_at is not None:
        return None
    return process(inbound)
