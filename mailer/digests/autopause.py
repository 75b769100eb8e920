"""Auto-pause: a sending digest whose hard bounces or complaints pass its list's limits.

A digest's rate of a kind is the number of its messages with a hard bounce (or a complaint)
recorded, over the number of its messages sent. It passes the list's limit (a percentage;
the AUTO_PAUSE_* settings unless the list sets its own; 0 turns the check off) only once
enough messages are out: the list's minimum sample, and never so few that one event alone
would pass the rate (at 0.1 % that is 1,000 messages: one complaint among 500 readers does
not stop a send to everyone; two among 1,000 do).

The check runs where a bounce or complaint is recorded (mailer.bounces.service) and once at
the end of each batch (mailer.tasks.digests), never in the send loop: it reads the digest
and its list, counts the digest's events of each kind (indexed by digest), and counts the
messages sent only when the events are enough to pass a limit at the minimum sample.
The pause itself is mailer.digests.lifecycle.auto_pause.

After a resume of an auto-paused digest (mailer.digests.lifecycle.resume) the rates count
only the messages sent since the resume and their bounces: what the editor saw when
resuming never pauses the digest again, and the minimum sample applies anew.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import distinct, func, select

from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    BounceKind,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    MailingList,
)


@dataclass(frozen=True)
class Limits:
    """A list's auto-pause limits: percentages (0: never) and the minimum sample."""

    bounce_rate: float
    complaint_rate: float
    min_sent: int


def limits_of(mailing_list: MailingList) -> Limits:
    """The list's own limits, or the site's AUTO_PAUSE_* settings where it has none."""
    cfg = current_app.config

    def pick(own: float | int | None, key: str) -> float:
        return float(cfg[key] if own is None else own)

    return Limits(
        bounce_rate=pick(mailing_list.pause_bounce_rate, "AUTO_PAUSE_BOUNCE_RATE"),
        complaint_rate=pick(mailing_list.pause_complaint_rate, "AUTO_PAUSE_COMPLAINT_RATE"),
        min_sent=int(pick(mailing_list.pause_min_sent, "AUTO_PAUSE_MIN_SENT")),
    )


def min_sample(rate: float, min_sent: int) -> int:
    """Messages out before `rate` can pause a digest: `min_sent`, and enough that a single
    event stays at or under the rate."""
    return max(min_sent, math.ceil(100 / rate - 1e-9))


def passes(events: int, out: int, rate: float, min_sent: int) -> bool:
    """Whether `events` among `out` messages pass `rate` % with a large enough sample."""
    if rate <= 0 or out < min_sample(rate, min_sent):
        return False
    return events * 100 > rate * out + 1e-9


def may_pass(events: int, rate: float, min_sent: int) -> bool:
    """Whether `events` could pass `rate` at some count of messages out (cheap: no count).

    Every count that may pause is at least the minimum sample, so under `rate` % of it
    no count can.
    """
    return rate > 0 and events * 100 > rate * min_sample(rate, min_sent) + 1e-9


@dataclass(frozen=True)
class Counts:
    out: int  # messages sent (since the last resume of an auto-pause)
    hard: int  # of them, with a hard bounce recorded
    complaints: int  # of them, with a complaint recorded


def _percent(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def verdict(counts: Counts, limits: Limits) -> str | None:
    """Why a digest with these counts must pause, for the editors; None if it need not."""
    for events, rate, what in (
        (counts.hard, limits.bounce_rate, "hard bounces"),
        (counts.complaints, limits.complaint_rate, "complaints"),
    ):
        if passes(events, counts.out, rate, limits.min_sent):
            share = 100 * events / counts.out
            sample = min_sample(rate, limits.min_sent)
            return (
                f"Paused automatically: {events} {what} among {counts.out} messages sent"
                f" ({_percent(share)} %), over this list's limit of {_percent(rate)} %"
                f" (checked once {sample} messages are out). Look at the bounce log before"
                " resuming: a resume counts only the messages sent after it."
            )
    return None


def _events(digest_id: int, since: datetime | None) -> dict[BounceKind, int]:
    """Messages of the digest with a hard bounce, and with a complaint, recorded."""
    query = (
        select(BounceEvent.kind, func.count(distinct(BounceEvent.delivery_id)))
        .where(
            BounceEvent.digest_id == digest_id,
            BounceEvent.attributed.is_(True),
            BounceEvent.delivery_id.is_not(None),
            BounceEvent.kind.in_((BounceKind.hard, BounceKind.complaint)),
        )
        .group_by(BounceEvent.kind)
    )
    if since is not None:
        query = query.join(Delivery, Delivery.id == BounceEvent.delivery_id).where(
            Delivery.sent_at >= since
        )
    return {BounceKind(kind): int(n) for kind, n in db.session.execute(query).all()}


def _out(digest_id: int, since: datetime | None) -> int:
    """Messages of the digest sent (since `since`); (digest_id, status) is indexed."""
    query = select(func.count()).where(
        Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.sent
    )
    if since is not None:
        query = query.where(Delivery.sent_at >= since)
    return int(db.session.scalar(query) or 0)


def check(digest_id: int) -> str | None:
    """Why the digest must pause now; None when it is not sending or within its limits."""
    row = db.session.execute(
        select(Digest.status, Digest.rates_since, MailingList)
        .join(MailingList, MailingList.id == Digest.list_id)
        .where(Digest.id == digest_id)
    ).first()
    if row is None or row[0] != DigestStatus.sending:
        return None
    since, limits = row[1], limits_of(row[2])
    events = _events(digest_id, since)
    hard, complaints = events.get(BounceKind.hard, 0), events.get(BounceKind.complaint, 0)
    if not (
        may_pass(hard, limits.bounce_rate, limits.min_sent)
        or may_pass(complaints, limits.complaint_rate, limits.min_sent)
    ):
        return None
    return verdict(Counts(_out(digest_id, since), hard, complaints), limits)
