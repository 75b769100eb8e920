"""The delivery engine: claim a digest, fan it out to an outbox, send batches exactly once.

The database is the truth. `start` claims the digest and writes one Delivery row per
recipient in one INSERT ... SELECT; `send_batch` claims rows with a lease, sends each over
the worker's kept SMTP connection and records it `sent` in its own short transaction before
the next, so a crash can repeat at most the one message in flight. `reap` puts rows whose
lease expired back to pending and finds work no task is carrying.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (
    Executable,
    Select,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from mailer.delivery.dkim import DkimSigner
from mailer.delivery.message import sender_domain
from mailer.delivery.smtp import smtp_code
from mailer.delivery.template import MessageTemplate
from mailer.digests.content import SLOT, list_id, recipient_slots, render_digest
from mailer.digests.record import recorder
from mailer.emails import get_transport
from mailer.extensions import db
from mailer.models import (
    EDITABLE,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from mailer.ratelimit import get_limiter
from mailer.verp import unsubscribe_mailto, verp_address

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
CHECK_EVERY = 50  # messages between looks at the digest's status (pause, cancel) and the lease
CHECK_SECONDS = 0.5  # ...or seconds, at a low SEND_RATE: a pause stops sending within a second


def _changed(statement: Executable) -> int:
    """Run an UPDATE; the number of rows it changed."""
    return int(getattr(db.session.execute(statement), "rowcount", 0) or 0)


class NotSendable(Exception):
    """The digest cannot start, pause, resume or be cancelled from its current status."""


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    retry_in: float | None = None  # seconds until the earliest deferred row is due


# --- starting ---------------------------------------------------------------------------------


def start(digest_id: int) -> int | None:
    """Claim a draft or scheduled digest, render it once and fan it out; None if claimed before.

    Flushes; the caller commits, so the claim, the rendered parts and the outbox land together.
    """
    now = utcnow()
    claimed = _changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(EDITABLE))
        .values(status=DigestStatus.sending, started_at=now)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return None
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    db.session.refresh(digest)
    rendered = render_digest(digest)
    digest.rendered_subject = rendered.subject
    digest.rendered_html = rendered.html
    digest.rendered_text = rendered.text
    count = fan_out(digest.id, digest.list_id, now)
    if count == 0:
        digest.status, digest.sent_at = DigestStatus.sent, now
    db.session.flush()
    logger.info("digest %s: claimed, %d deliveries", digest_id, count)
    return count


def recipients_query(list_id: int) -> Select[Any]:
    """Confirmed, unsuppressed subscribers of a list (ids), as one SELECT.

    Subscribers are looked at only for the few suppressed addresses (through their
    address_hash index), not joined to every subscription: on PostgreSQL that join was a
    hash join of a million rows each, a quarter of a 1,000,000-row fan-out.
    """
    suppressed = exists().where(
        Subscriber.id == Subscription.subscriber_id,
        Suppression.address_hash == Subscriber.address_hash,
    )
    return select(Subscription.subscriber_id).where(
        Subscription.list_id == list_id,
        Subscription.status == SubscriptionStatus.confirmed,
        ~suppressed,
    )


def recipient_count(list_id: int) -> int:
    """How many subscribers a digest to this list would go to now."""
    query = select(func.count()).select_from(recipients_query(list_id).subquery())
    return int(db.session.scalar(query) or 0)


def fan_out(digest_id: int, list_id: int, now: datetime) -> int:
    """One pending Delivery per recipient, set-based; a repeated fan-out adds nothing."""
    source = (
        recipients_query(list_id)
        .with_only_columns(
            literal(digest_id),
            Subscription.subscriber_id,
            literal(DeliveryStatus.pending.value),
            literal(0),
            literal(now, type_=Delivery.__table__.c.created_at.type),
        )
        .order_by(Subscription.subscriber_id)
    )  # index-ordered inserts: measured faster (PostgreSQL reads them off an index, unsorted)
    columns = ["digest_id", "subscriber_id", "status", "attempts", "created_at"]
    statement = insert(Delivery).from_select(
        columns,
        source.where(
            ~exists().where(
                Delivery.digest_id == digest_id,
                Delivery.subscriber_id == Subscription.subscriber_id,
            )
        ),
    )
    # SQLAlchemy drops the rowcount of an INSERT unless asked to keep it; kept, it is the
    # driver's (psycopg: the server's "INSERT 0 n"), with no second pass over the rows.
    result = db.session.execute(statement.execution_options(preserve_rowcount=True))
    count = int(getattr(result, "rowcount", -1))
    if count < 0:  # never 0 instead: start() would mark the digest sent
        raise RuntimeError("the database driver reported no row count for the fan-out")
    return count


def batch_ranges(digest_id: int, size: int) -> list[tuple[int, int]]:
    """Id ranges of at most `size` open deliveries each, in id order (one query)."""
    open_rows = (
        select(
            Delivery.id,
            ((func.row_number().over(order_by=Delivery.id) - 1) // size).label("chunk"),
        )
        .where(
            Delivery.digest_id == digest_id,
            Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.sending]),
        )
        .subquery()
    )
    rows = db.session.execute(
        select(func.min(open_rows.c.id), func.max(open_rows.c.id))
        .group_by(open_rows.c.chunk)
        .order_by(func.min(open_rows.c.id))
    ).all()
    return [(int(lo), int(hi)) for lo, hi in rows]


# --- sending ----------------------------------------------------------------------------------


_templates: dict[tuple[int, str], MessageTemplate] = {}


def message_template(digest: Digest) -> MessageTemplate:
    """The digest's message, built once per worker process from its stored rendering."""
    key = (digest.id, str(digest.started_at))
    template = _templates.get(key)
    if template is None:
        _templates.clear()  # one digest at a time is the common case; keep memory flat
        cfg = current_app.config
        template = _templates[key] = MessageTemplate(
            subject=digest.rendered_subject or digest.subject,
            sender=cfg["MAIL_FROM"],
            text=digest.rendered_text or "",
            html=digest.rendered_html or "",
            headers={
                "List-Id": list_id(digest.mailing_list),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "bulk",
            },
            marker=SLOT,
        )
    return template


def _owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def _claim(digest_id: int, lo: int, hi: int, owner: str, now: datetime) -> int:
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    return _changed(
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
    return _changed(
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


def _claimed(owner: str) -> Iterator[tuple[int, int, _Reader]]:
    """The claimed rows with their subscribers as plain values, not session objects.

    Each recorded delivery commits; session objects would be expired by every commit and
    reloaded one query each (measured: a third of the time per message), and even building
    one costs more than the rest of a message's slots.
    """
    rows = db.session.execute(
        select(Delivery.id, Delivery.attempts, Subscriber.uid, Subscriber.email, Subscriber.name)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.lease_owner == owner, Delivery.status == DeliveryStatus.sending)
        .order_by(Delivery.id)
    ).all()
    for delivery_id, attempts, uid, email, name in rows:
        yield int(delivery_id), int(attempts), _Reader(uid, email, name)


def _set(delivery_id: int, owner: str, **values: object) -> None:
    """Record one delivery's outcome in its own short transaction (only if we still hold it)."""
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _still_sending(digest_id: int) -> bool:
    """Whether the digest is still sending; ends the read so the next one sees new commits."""
    sending = _status(digest_id) == DigestStatus.sending
    db.session.commit()
    return sending


def _release(owner: str, digest_id: int) -> None:
    """Give back the rows a batch did not send: pending, or skipped if the digest was cancelled."""
    cancelled = _status(digest_id) == DigestStatus.cancelled
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


def _status(digest_id: int) -> DigestStatus | None:
    return db.session.scalar(select(Digest.status).where(Digest.id == digest_id))


def backoff(attempt: int, base: float, cap: float = 3600.0) -> float:
    """Exponential back-off with full jitter: attempt 1 waits up to `base` seconds."""
    return random.uniform(base / 2, min(cap, base * 2 ** (attempt - 1)))


def send_batch(
    digest_id: int, lo: int, hi: int, on_sent: Callable[[int], None] | None = None
) -> BatchResult:
    """Send the open deliveries of one id range; each is recorded before the next is sent."""
    result = BatchResult()
    if _status(digest_id) != DigestStatus.sending:
        return result
    owner, now = _owner(), utcnow()
    if not _claim(digest_id, lo, hi, owner, now):
        db.session.commit()
        return result
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    result.skipped = _skip_gone(digest, owner)
    db.session.commit()
    cfg = current_app.config
    template, signer = message_template(digest), dkim_signer()
    list_id = digest.list_id  # a plain value: `digest` expires at every commit below
    transport = get_transport()
    limiter = get_limiter()
    before = limiter.wait if limiter.enabled else None
    domain = sender_domain(cfg["MAIL_FROM"])
    renewed = time.monotonic()
    claimed = list(_claimed(owner))
    db.session.commit()
    check, checked = False, time.monotonic()
    with recorder().open(sync=bool(cfg["DELIVERY_SYNC_COMMIT"])) as mark_sent:
        for n, (delivery_id, attempts, subscriber) in enumerate(claimed):
            if check:
                if not _still_sending(digest_id):
                    break  # paused or cancelled: the rest goes back to pending below
                checked = time.monotonic()
            if time.monotonic() - renewed > LEASE.total_seconds() / 3:
                _renew(owner)  # a slow server or a low SEND_RATE must not let the lease lapse
                renewed = time.monotonic()
            slots = recipient_slots(subscriber, list_id)
            # Signed messages are signed as they are, then stuffed by the transport; the
            # rest come out of the template in the form SMTP DATA carries.
            render = template.render if signer is not None else template.render_data
            data = render(
                subscriber.email,
                f"<{digest_id}.{delivery_id}.{secrets.token_hex(6)}@{domain}>",
                slots,
                headers={
                    "List-Unsubscribe": f"<{slots['unsubscribe_url']}>, "
                    f"<{unsubscribe_mailto(delivery_id)}>"
                },
            )
            if signer is not None:
                data = signer.sign(data)
            # The next message's envelope goes out with this one (RFC 2920), except where
            # the loop may stop: its content follows only once this one is recorded.
            check = (n + 1) % CHECK_EVERY == 0 or time.monotonic() - checked > CHECK_SECONDS
            ahead = n + 1 < len(claimed) and not check
            then = (verp_address(claimed[n + 1][0]), claimed[n + 1][2].email) if ahead else None
            try:
                transport.send_raw(
                    verp_address(delivery_id), subscriber.email, data, before=before, then=then
                )
            except (smtplib.SMTPException, OSError) as exc:
                _record_failure(result, delivery_id, owner, attempts, exc)
                continue
            mark_sent(delivery_id, owner, attempts + 1)
            result.sent += 1
            if on_sent is not None:
                on_sent(delivery_id)
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


def _record_failure(
    result: BatchResult, delivery_id: int, owner: str, attempts: int, exc: BaseException
) -> None:
    """5xx, or too many tries: failed. 4xx and connection trouble: pending after a back-off."""
    cfg = current_app.config
    code, error = smtp_code(exc), str(exc)[:480]
    values: dict[str, object] = {"smtp_code": code, "error": error, "attempts": attempts + 1}
    if code is not None and 500 <= code < 600 or attempts + 1 >= int(cfg["DELIVERY_MAX_ATTEMPTS"]):
        _set(delivery_id, owner, status=DeliveryStatus.failed, **values)
        result.failed += 1
        logger.warning("delivery %s failed (%s)", delivery_id, code)
        return
    wait = backoff(attempts + 1, float(cfg["DELIVERY_RETRY_BASE"]))
    next_at = utcnow() + timedelta(seconds=wait)
    _set(delivery_id, owner, status=DeliveryStatus.pending, next_attempt_at=next_at, **values)
    result.deferred += 1
    result.retry_in = wait if result.retry_in is None else min(result.retry_in, wait)


def _renew(owner: str) -> None:
    db.session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner, Delivery.status == DeliveryStatus.sending)
        .values(lease_expires_at=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


_signers: dict[tuple[str, str, str], DkimSigner] = {}


def dkim_signer() -> DkimSigner | None:
    """The DKIM signer of DKIM_* settings, loaded once per process; None when unset."""
    cfg = current_app.config
    selector, domain, path = cfg["DKIM_SELECTOR"], cfg["DKIM_DOMAIN"], cfg["DKIM_PRIVATE_KEY_PATH"]
    if not (selector and domain and path):
        return None
    key = (selector, domain, path)
    if key not in _signers:
        _signers[key] = DkimSigner.from_file(path, selector, domain)
    return _signers[key]


def finish_if_done(digest_id: int) -> bool:
    """Mark a sending digest `sent` once no delivery is pending or sending."""
    open_rows = exists().where(
        Delivery.digest_id == digest_id,
        Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.sending]),
    )
    done = _changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status == DigestStatus.sending, ~open_rows)
        .values(status=DigestStatus.sent, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if done:
        logger.info("digest %s: sent", digest_id)
    return bool(done)


def next_retry_in(digest_id: int, lo: int, hi: int) -> float | None:
    """Seconds until the range's next deferred delivery is due; None if none, or not sending.

    Of every deferred row of the range, not only those of the last run: a row deferred near
    the end of one run may not be due yet when the next one claims, and must not be left
    for the reaper.
    """
    due = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.digest_id == digest_id,
            Delivery.id.between(lo, hi),
            Delivery.status == DeliveryStatus.pending,
            Delivery.next_attempt_at.is_not(None),
        )
    )
    sending = _status(digest_id) == DigestStatus.sending
    db.session.commit()
    if due is None or not sending:
        return None
    return max(0.0, (due - utcnow()).total_seconds())


# --- control ----------------------------------------------------------------------------------


def _move(digest_id: int, sources: tuple[DigestStatus, ...], target: DigestStatus) -> None:
    changed = _changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(sources))
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if not changed:
        status = _status(digest_id)
        raise NotSendable(
            f"This digest is {status.value if status else 'gone'}: it cannot be {target.value}."
        )


def pause(digest_id: int) -> None:
    """Stop claiming new deliveries; batches in flight stop at their next check."""
    _move(digest_id, (DigestStatus.sending,), DigestStatus.paused)


def resume(digest_id: int) -> None:
    """Continue a paused digest; the caller enqueues its open ranges after the commit."""
    _move(digest_id, (DigestStatus.paused,), DigestStatus.sending)


def cancel(digest_id: int) -> int:
    """Cancel a scheduled, sending or paused digest; its open deliveries become skipped."""
    _move(
        digest_id,
        (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused),
        DigestStatus.cancelled,
    )
    return _changed(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.skipped)
        .execution_options(synchronize_session=False)
    )


@dataclass
class Progress:
    total: int
    sent: int
    failed: int
    skipped: int
    pending: int
    sending: int

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped


def progress(digest_id: int) -> Progress:
    """Counts of the digest's deliveries by status (one GROUP BY)."""
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.digest_id == digest_id)
            .group_by(Delivery.status)
        ).all()
    )
    get = lambda s: int(counts.get(s, 0))  # noqa: E731
    return Progress(
        total=sum(int(v) for v in counts.values()),
        sent=get(DeliveryStatus.sent),
        failed=get(DeliveryStatus.failed),
        skipped=get(DeliveryStatus.skipped),
        pending=get(DeliveryStatus.pending),
        sending=get(DeliveryStatus.sending),
    )


# --- the reaper -------------------------------------------------------------------------------


def reap(now: datetime | None = None) -> list[int]:
    """Expired leases back to pending; return sending digests with due work and no live lease."""
    now = now or utcnow()
    cancelled = select(Digest.id).where(Digest.status == DigestStatus.cancelled)
    for target, in_cancelled in ((DeliveryStatus.skipped, True), (DeliveryStatus.pending, False)):
        in_digest = Delivery.digest_id.in_(cancelled)
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.status == DeliveryStatus.sending,
                Delivery.lease_expires_at < now,
                in_digest if in_cancelled else ~in_digest,
            )
            .values(status=target, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    sending = db.session.scalars(select(Digest.id).where(Digest.status == DigestStatus.sending))
    stalled = []
    for digest_id in list(sending):
        if finish_if_done(digest_id):
            continue
        live = db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.sending)
        )
        due = db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.digest_id == digest_id,
                Delivery.status == DeliveryStatus.pending,
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
        )
        if due and not live:
            stalled.append(digest_id)
    return stalled


def auto_send_due(now: datetime | None = None) -> list[int]:
    """Scheduled digests whose time has come, to be started."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Digest.id).where(
                Digest.status == DigestStatus.scheduled, Digest.scheduled_at <= now
            )
        )
    )
