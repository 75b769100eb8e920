"""Sending: bulk tasks send one id range of a digest's outbox each, exactly once.

`send_batch` claims its rows with a lease, has each recipient's message filled in from the
one built per digest (mailer.digests.compose), sends it over the worker's kept SMTP
connection and records it `sent` (mailer.digests.record) before the next message goes out,
so a crash can repeat at most the one message in flight. The lease is renewed while the
batch runs (mailer.digests.lease); what a refused message costs, and when a server is put
on hold, is mailer.digests.retry.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask import current_app
from sqlalchemy import (
    and_,
    or_,
    select,
    update,
)

from mailer.digests import retry
from mailer.digests.compose import Composer
from mailer.digests.control import finish_if_done
from mailer.digests.lease import LEASE, Heartbeat
from mailer.digests.outbox import changed, digest_status, recipients_query
from mailer.digests.record import recorder
from mailer.emails import get_transport
from mailer.extensions import db
from mailer.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Subscriber,
    Subscription,
    utcnow,
)
from mailer.ratelimit import get_limiter
from mailer.verp import verp_address

logger = logging.getLogger(__name__)

CHECK_EVERY = 50  # messages between looks at the digest's status (pause, cancel)
CHECK_SECONDS = 0.5  # ...or seconds, at a low SEND_RATE: a pause stops sending within a second
clock = time.monotonic  # the batch loop's clock; tests replace it to decide when it looks


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    retry_in: float | None = None  # seconds until the earliest deferred row is due


# --- sending ----------------------------------------------------------------------------------


def _owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def _claim(digest_id: int, lo: int, hi: int, owner: str, now: datetime) -> int:
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    return changed(
        update(Delivery)
        .where(
            Delivery.digest_id == digest_id,
            Delivery.id.between(lo, hi),
            or_(
                and_(Delivery.status == DeliveryStatus.pending, due),
                and_(Delivery.status == DeliveryStatus.sending, Delivery.lease_expires_at < now),
            ),
        )
        .values(status=DeliveryStatus.sending, lease_owner=owner, lease_expires_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )


def _skip_gone(digest: Digest, owner: str) -> int:
    """Claimed rows whose subscriber left, was erased or suppressed since the fan-out: skipped.

    Correlated, so each claimed row costs an index lookup: a NOT IN over the list's
    recipients made PostgreSQL build the whole list (a million rows) in every batch.
    """
    still = recipients_query(digest.list_id).where(
        Subscription.subscriber_id == Delivery.subscriber_id
    )
    return changed(
        update(Delivery)
        .where(
            Delivery.lease_owner == owner,
            Delivery.status == DeliveryStatus.sending,
            or_(Delivery.subscriber_id.is_(None), ~still.exists()),
        )
        .values(status=DeliveryStatus.skipped, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


class _Reader(NamedTuple):
    uid: str
    email: str
    name: str | None
    token_version: int  # in the preferences link: revoked links stay revoked
    language: str  # picks the reader's variant (mailer.digests.variants)


def _claimed(owner: str) -> Iterator[tuple[int, int, _Reader]]:
    """The claimed rows with their subscribers as plain values, not session objects.

    Each recorded delivery commits; session objects would be expired by every commit and
    reloaded one query each (measured: a third of the time per message), and even building
    one costs more than the rest of a message's slots.
    """
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.attempts,
            Subscriber.uid,
            Subscriber.email,
            Subscriber.name,
            Subscriber.token_version,
            Subscriber.language,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.lease_owner == owner, Delivery.status == DeliveryStatus.sending)
        .order_by(Delivery.id)
    ).all()
    for delivery_id, attempts, uid, email, name, version, language in rows:
        yield int(delivery_id), int(attempts), _Reader(uid, email, name, version, language)


def _still_sending(digest_id: int) -> bool:
    """Whether the digest is still sending; ends the read so the next one sees new commits."""
    sending = digest_status(digest_id) == DigestStatus.sending
    db.session.commit()
    return sending


def _release(owner: str, digest_id: int) -> None:
    """Give back the rows a batch did not send: pending, or skipped if the digest was cancelled."""
    cancelled = digest_status(digest_id) == DigestStatus.cancelled
    db.session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner, Delivery.status == DeliveryStatus.sending)
        .values(
            status=DeliveryStatus.skipped if cancelled else DeliveryStatus.pending,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def send_batch(
    digest_id: int, lo: int, hi: int, on_sent: Callable[[int], None] | None = None
) -> BatchResult:
    """Send the open deliveries of one id range; each is recorded before the next is sent."""
    result = BatchResult()
    if digest_status(digest_id) != DigestStatus.sending:
        return result
    owner = _owner()
    if not _claim(digest_id, lo, hi, owner, utcnow()):
        db.session.commit()
        return result
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    result.skipped = _skip_gone(digest, owner)
    claimed = list(_claimed(owner))
    # Plain values: `digest` expires at every commit below.
    composer = Composer.of(digest, {reader.language for _, _, reader in claimed})
    db.session.commit()
    with Heartbeat(db.engine, owner) as heartbeat:  # the lease lives as long as we do
        held = retry.on_hold(get_transport())
        if held is not None:  # every server is on hold after a 4xx: nothing to try now
            with heartbeat.lock:
                _hold(owner, held, result)
        else:
            _send_claimed(composer, owner, claimed, result, on_sent, heartbeat)
    _release(owner, digest_id)
    finish_if_done(digest_id)
    logger.info(
        "digest %s: batch %s-%s sent %d, failed %d, deferred %d, skipped %d",
        digest_id,
        lo,
        hi,
        result.sent,
        result.failed,
        result.deferred,
        result.skipped,
    )
    return result


def _send_claimed(
    composer: Composer,
    owner: str,
    claimed: list[tuple[int, int, _Reader]],
    result: BatchResult,
    on_sent: Callable[[int], None] | None,
    heartbeat: Heartbeat,
) -> None:
    """Send and record the claimed rows in order, looking at the digest's status as it goes.

    A refusal about the server puts it on hold: the batch stops and the rest waits for it.
    """
    transport, gate = get_transport(), retry.Gate(get_limiter())
    streak = 0  # recipients refused about themselves in a row (retry.about_recipient)
    check, checked = False, clock()
    sync = bool(current_app.config["DELIVERY_SYNC_COMMIT"])
    then: tuple[str, str] | None = None  # the envelope announced with the last message
    with recorder().open(sync=sync) as mark_sent:
        for n, (delivery_id, attempts, reader) in enumerate(claimed):
            sender = then[0] if then is not None else verp_address(delivery_id)
            if check:
                if not _still_sending(composer.digest_id):
                    break  # paused or cancelled: the rest goes back to pending
                if not heartbeat.alive():  # the lease may lapse: the rows may go to another
                    logger.warning("digest %s: lease not renewed, batch stops", composer.digest_id)
                    break
                checked = clock()
            data = composer.message(delivery_id, reader)
            # The next message's envelope goes out with this one (RFC 2920), except where
            # the loop may stop: its content follows only once this one is recorded.
            check = (n + 1) % CHECK_EVERY == 0 or clock() - checked > CHECK_SECONDS
            ahead = n + 1 < len(claimed) and not check
            then = (verp_address(claimed[n + 1][0]), claimed[n + 1][2].email) if ahead else None
            gate.server = None  # set by the transport once it picked this message's server
            try:
                transport.send_raw(sender, reader.email, data, before=gate, then=then)
            except (smtplib.SMTPException, OSError) as exc:
                streak = streak + 1 if retry.about_recipient(exc) else 0
                refusal = retry.refuse(
                    transport, gate.server, delivery_id, owner, attempts, exc, reader.email, streak
                )
                _count(result, refusal)
                if refusal.stop:
                    with heartbeat.lock:  # many rows at once: not beside a renewal of their lease
                        _hold(owner, refusal.wait, result)
                    break
                continue
            streak = 0
            mark_sent(delivery_id, owner, attempts + 1)
            result.sent += 1
            if on_sent is not None:
                on_sent(delivery_id)


def _count(result: BatchResult, refusal: retry.Refusal) -> None:
    if refusal.failed:
        result.failed += 1
        return
    result.deferred += 1
    wait = refusal.wait
    result.retry_in = wait if result.retry_in is None else min(result.retry_in, wait)


def _hold(owner: str, wait: float, result: BatchResult) -> None:
    """The claimed rows not sent wait `wait` seconds for their server, no attempt charged."""
    deferred, failed = retry.hold(owner, wait)
    result.deferred += deferred
    result.failed += failed
    result.retry_in = wait if result.retry_in is None else min(result.retry_in, wait)
