"""Inbound bounce mail (stored before it is acknowledged) and the events parsed from it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, utcnow
from mailer.models.delivery import BigId


class BounceKind(enum.StrEnum):
    hard = "hard"  # permanent failure (5.x.x): suppress at once
    soft = "soft"  # transient failure (4.x.x): suppress after SOFT_BOUNCE_LIMIT in the window
    delay = "delay"  # a "still trying" warning (Action: delayed): recorded, changes nothing
    complaint = "complaint"  # an ARF abuse report: unsubscribe from every list and suppress
    auto_reply = "auto_reply"  # vacation, out of office: recorded, changes nothing
    unknown = "unknown"  # not recognised: recorded, changes nothing


class InboundMessage(Base):
    """A message handed to the bounce receiver, committed before the receiver says 250.

    `raw` is cleared once the message is processed: it holds the subscriber's address and
    the original mail, and the BounceEvent keeps all that the policy needs.
    """

    __tablename__ = "inbound_message"
    __table_args__ = (sa.Index("ix_inbound_message_unprocessed", "processed_at", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    size: Mapped[int] = mapped_column(sa.Integer)
    # Our own envelope recipients (VERP addresses), newline-separated: they name the delivery.
    envelope_to: Mapped[str] = mapped_column(sa.String(1000), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=0)

    def __repr__(self) -> str:
        return f"<InboundMessage {self.id}>"


class BounceEvent(Base):
    """One bounce, complaint or auto-reply: what, when, for which delivery; never an address."""

    __tablename__ = "bounce_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 of Message-ID + envelope recipient (or of the raw message): the same bounce
    # delivered twice is recorded once.
    message_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[BounceKind] = mapped_column(enum_column(BounceKind))
    # The signed VERP token verified: False for unknown or forged tokens (nothing changed).
    attributed: Mapped[bool] = mapped_column(default=False)
    delivery_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("delivery.id", ondelete="SET NULL"), index=True
    )
    # SET NULL: erasing a subscriber keeps the counts, not who they were about.
    subscriber_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subscriber.id", ondelete="SET NULL"), index=True
    )
    digest_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("digest.id", ondelete="SET NULL"), index=True
    )
    inbound_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("inbound_message.id", ondelete="SET NULL")
    )
    status: Mapped[str | None] = mapped_column(sa.String(16))  # enhanced status code, e.g. 5.1.1
    diagnostic: Mapped[str | None] = mapped_column(sa.String(500))  # addresses redacted
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<BounceEvent {self.id} {self.kind}>"
