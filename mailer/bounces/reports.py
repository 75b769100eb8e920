"""Counts for the admin: bounces and complaints per digest, the event log, suppressions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Label, case, func, select

from mailer.extensions import db
from mailer.models import BounceEvent, BounceKind, Delivery, DeliveryStatus, Digest


@dataclass(frozen=True)
class DigestBounces:
    """One digest's sent count and its bounces and complaints."""

    digest_id: int
    subject: str
    sent: int
    hard: int
    soft: int
    complaints: int

    def rate(self, count: int) -> str:
        return f"{100 * count / self.sent:.2f} %" if self.sent else "—"


def _count(kind: BounceKind, name: str) -> Label[int]:
    return func.count(case((BounceEvent.kind == kind, 1))).label(name)


def for_digest(digest_id: int) -> DigestBounces | None:
    """One digest's bounce and complaint counts, once it has started."""
    found = per_digest(1, digest_id=digest_id)
    return found[0] if found else None


def per_digest(limit: int = 50, digest_id: int | None = None) -> list[DigestBounces]:
    """The latest digests that went out, with bounce and complaint counts."""
    sent = (
        select(Delivery.digest_id, func.count(Delivery.id).label("n"))
        .where(Delivery.status == DeliveryStatus.sent)
        .group_by(Delivery.digest_id)
        .subquery()
    )
    events = (
        select(
            BounceEvent.digest_id,
            _count(BounceKind.hard, "hard"),
            _count(BounceKind.soft, "soft"),
            _count(BounceKind.complaint, "complaints"),
        )
        .where(BounceEvent.attributed.is_(True))
        .group_by(BounceEvent.digest_id)
        .subquery()
    )
    query = (
        select(
            Digest.id,
            Digest.subject,
            func.coalesce(sent.c.n, 0),
            func.coalesce(events.c.hard, 0),
            func.coalesce(events.c.soft, 0),
            func.coalesce(events.c.complaints, 0),
        )
        .outerjoin(sent, sent.c.digest_id == Digest.id)
        .outerjoin(events, events.c.digest_id == Digest.id)
        .where(Digest.started_at.is_not(None))
        .order_by(Digest.id.desc())
        .limit(limit)
    )
    if digest_id is not None:
        query = query.where(Digest.id == digest_id)
    rows = db.session.execute(query).all()
    return [DigestBounces(*(row[:2]), *(int(v) for v in row[2:])) for row in rows]


def kind_counts(attributed: bool | None = None) -> dict[str, int]:
    """Events per kind (all, or only attributed / unattributed ones)."""
    query = select(BounceEvent.kind, func.count(BounceEvent.id)).group_by(BounceEvent.kind)
    if attributed is not None:
        query = query.where(BounceEvent.attributed.is_(attributed))
    return {BounceKind(k).value: int(n) for k, n in db.session.execute(query).all()}


def recent_events(kind: BounceKind | None = None, limit: int = 200) -> Sequence[BounceEvent]:
    """The latest events, newest first."""
    query = select(BounceEvent).order_by(BounceEvent.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(BounceEvent.kind == kind)
    return db.session.scalars(query).all()
