"""What a refused send costs a reader: a 5xx fails them, a 4xx only defers them.

A 4xx about the server (421, 451, 4.7.x throttling, a full queue...) or a lost connection
holds the whole server (mailer.backoff): the batch stops sending to it and puts its other
rows back, due when the hold ends, without charging them an attempt. A 4xx clearly about
the recipient (450 or 452 at RCPT with a 4.1.x or 4.2.x status: mailbox full, mailbox
unavailable, greylisted) defers that reader alone, with their own back-off; STREAK of those
in a row are the server's after all. Either way a reader fails on a 4xx only once
DELIVERY_RETRY_BUDGET has passed since they were first deferred (`deferred_since`),
never after a number of tries.
"""

from __future__ import annotations

import logging
import random
import smtplib
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import func, literal, update
from sqlalchemy.sql.elements import ColumnElement

from mailer import clock
from mailer.backoff import get_backoff
from mailer.delivery import Transport
from mailer.delivery.errors import describe, enhanced_status, smtp_reply
from mailer.delivery.smtp import SmtpTransport, smtp_code
from mailer.delivery.smtp_pool import SmtpPool
from mailer.digests.outbox import changed
from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, utcnow
from mailer.ratelimit import SendRateLimiter
from mailer.redaction import smtp_error_text

logger = logging.getLogger(__name__)

STREAK = 5  # recipients in a row refused "about themselves": the server's trouble after all
CAP = 3600.0  # seconds: the longest back-off of one reader
OVER_BUDGET = "held back by the SMTP server's 4xx or connection trouble past the retry budget"


def backoff(attempt: int, base: float, cap: float = CAP) -> float:
    """Exponential back-off with full jitter: attempt 1 waits up to `base` seconds."""
    return random.uniform(base / 2, min(cap, base * 2 ** (attempt - 1)))


def permanent(exc: BaseException) -> bool:
    """A 5xx to this recipient (RCPT) or to this message (DATA): they fail at once.

    A 5xx to the session itself (the greeting, AUTH with a wrong password, our envelope
    sender) says nothing about the reader: it is the server's trouble, held like a 4xx, so
    that a mistake in the SMTP settings costs readers time, never their digest.
    """
    if not isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)):
        return False
    code = smtp_code(exc)
    return code is not None and 500 <= code < 600


def about_recipient(exc: BaseException) -> bool:
    """Whether a 4xx is about the recipient (their mailbox), not about the server.

    Only a refusal of RCPT says so, and then only by a 4.1.x (address) or 4.2.x (mailbox)
    enhanced status, or a bare 450 (mailbox unavailable). 421 closes the session, 451 is a
    local error, 452 without 4.2.2 a full queue or too many recipients, 4.3.x to 4.7.x the
    system, network or policy (throttling): all the server's.
    """
    if not isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    code, text = smtp_reply(exc)
    if code is None or not 400 <= code < 500 or code == 421:
        return False
    status = enhanced_status(text)
    if status is not None:
        return status.split(".")[1] in ("1", "2")
    return code == 450


def budget() -> timedelta:
    return timedelta(seconds=float(current_app.config["DELIVERY_RETRY_BUDGET"]))


def _spent(now: datetime) -> ColumnElement[bool]:
    """Rows first deferred longer ago than the budget."""
    return Delivery.deferred_since < now - budget()


def _since(now: datetime) -> ColumnElement[datetime]:
    return func.coalesce(
        Delivery.deferred_since, literal(now, type_=Delivery.__table__.c.deferred_since.type)
    )


def record(
    delivery_id: int, owner: str, attempts: int, exc: BaseException, recipient: str, wait: float
) -> bool:
    """Record one refused delivery: failed on a 5xx or once its budget is spent, else
    pending for `wait` seconds. True if it failed. Commits.

    The error is kept as code, enhanced status and the reply without any address (M6).
    """
    now = clock.now()
    mine = (Delivery.id == delivery_id, Delivery.lease_owner == owner)
    values: dict[str, object] = {
        "smtp_code": smtp_code(exc),
        "error": smtp_error_text(exc, recipient),
        "attempts": attempts + 1,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    failing = update(Delivery).where(*mine).values(status=DeliveryStatus.failed, **values)
    if not permanent(exc):
        failing = failing.where(_spent(now))
    failed = changed(failing.execution_options(synchronize_session=False))
    if not failed:
        db.session.execute(
            update(Delivery)
            .where(*mine)
            .values(
                status=DeliveryStatus.pending,
                next_attempt_at=utcnow() + timedelta(seconds=wait),
                deferred_since=_since(now),
                **values,
            )
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return bool(failed)


def hold(owner: str, wait: float) -> tuple[int, int]:
    """Put back the rows a batch holds and will not send now (its server is on hold): due in
    `wait` seconds, no attempt charged; those deferred past the budget fail. Commits.

    Returns (deferred, failed).
    """
    now = clock.now()
    mine = (Delivery.lease_owner == owner, Delivery.status == DeliveryStatus.sending)
    failed = changed(
        update(Delivery)
        .where(*mine, _spent(now))
        .values(
            status=DeliveryStatus.failed,
            error=OVER_BUDGET,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    deferred = changed(
        update(Delivery)
        .where(*mine)
        .values(
            status=DeliveryStatus.pending,
            next_attempt_at=utcnow() + timedelta(seconds=wait),
            deferred_since=_since(now),
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if failed:
        logger.warning("%d deliveries failed: their server was on hold past the budget", failed)
    return deferred, failed


# --- the batch's side -------------------------------------------------------------------------


class Gate:
    """Runs right before each message goes out: notes its server, waits for the rate limit."""

    def __init__(self, limiter: SendRateLimiter) -> None:
        self.server: str | None = None
        self._wait = limiter.wait if limiter.enabled else None

    def __call__(self, server_key: str) -> None:
        self.server = server_key
        if self._wait is not None:
            self._wait(server_key)


def server_keys(transport: Transport) -> list[str]:
    if isinstance(transport, SmtpPool):
        return [server.key for server in transport.servers]
    if isinstance(transport, SmtpTransport):
        return [transport.server_key]
    return []


def on_hold(transport: Transport) -> float | None:
    """Seconds until a server is free again if every server of the transport is on hold.

    A pool leaves out the servers on hold (SmtpPool.rest) and sends through the others.
    One look at Redis per batch.
    """
    keys = server_keys(transport)
    held = get_backoff().held(keys)
    if isinstance(transport, SmtpPool):
        for key, seconds in held.items():
            transport.rest(key, seconds)
    if not keys or len(held) < len(keys):
        return None
    return min(held.values())


class Refusal(NamedTuple):
    failed: bool  # the reader failed (5xx, or a 4xx past the budget)
    wait: float  # seconds until the reader is due again
    stop: bool  # the server went on hold and no other can take the batch's messages


def refuse(
    transport: Transport,
    server: str | None,
    delivery_id: int,
    owner: str,
    attempts: int,
    exc: BaseException,
    recipient: str,
    streak: int,
) -> Refusal:
    """Record one refused message; hold its server if the refusal is about the server.

    `streak`: recipients refused about themselves in a row, this one included.
    """
    server_wide = not permanent(exc) and (not about_recipient(exc) or streak >= STREAK)
    if server_wide:
        wait = get_backoff().trip(server or "unknown")
        code = smtp_code(exc)
        log = logger.error if code is not None and code >= 500 else logger.warning  # settings?
        log("SMTP server %s on hold for %.1fs: %s", server, wait, describe(exc))
    else:
        wait = backoff(attempts + 1, float(current_app.config["DELIVERY_RETRY_BASE"]))
    failed = record(delivery_id, owner, attempts, exc, recipient, wait)
    if failed:
        logger.warning("delivery %s failed (%s)", delivery_id, smtp_code(exc))
    stop = server_wide and not _rest(transport, server, wait)
    return Refusal(failed, wait, stop)


def _rest(transport: Transport, server: str | None, wait: float) -> bool:
    """Leave the server out of a pool for `wait` seconds; False if no other server is left."""
    if not isinstance(transport, SmtpPool) or server is None:
        return False
    transport.rest(server, wait)
    return len(transport.down()) < len(transport.servers)
