"""The outbox: one Delivery per digest × subscriber, the record that makes sending exactly-once."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    sending = "sending"  # claimed by a worker: lease_owner until lease_expires_at
    sent = "sent"
    failed = "failed"  # smtp_code and error say why
    skipped = "skipped"  # cancelled, or unsubscribed/suppressed before its turn


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("digest_id", "subscriber_id"),
        sa.Index("ix_delivery_digest_status", "digest_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest_id: Mapped[int] = mapped_column(sa.ForeignKey("digest.id", ondelete="CASCADE"))
    # SET NULL: erasing a subscriber keeps the count of what was sent, not who it went to.
    subscriber_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subscriber.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    smtp_code: Mapped[int | None] = mapped_column(sa.SmallInteger)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Delivery {self.id} {self.status}>"
