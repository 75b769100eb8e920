"""Subscribers, lists, subscriptions, consent records and the suppression list."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, new_uid, utcnow


class SubscriptionStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class SuppressionReason(enum.StrEnum):
    erased = "erased"
    hard_bounce = "hard_bounce"
    soft_bounce = "soft_bounce"
    complaint = "complaint"
    manual = "manual"


class Subscriber(Base):
    __tablename__ = "subscriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_uid)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    # Keyed hash of `email` (privacy.address_hash): lets the fan-out skip suppressed
    # addresses in one SQL statement, and ties tokens to the address.
    address_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A confirmation mail was asked for, put on the queue, and last handed to SMTP at ...;
    # the sweeper re-enqueues requests whose task never ran (Redis down, process died).
    confirm_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the last sign-up asked for (name, language), applied only when the address's owner
    # confirms: a stranger's form never changes a subscriber's data (audit M3).
    pending_name: Mapped[str | None] = mapped_column(sa.String(100))
    pending_language: Mapped[str | None] = mapped_column(sa.String(8))
    # In every link token but unsubscribe's: bumping it revokes every outstanding link (M4).
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # In every one-time link (download my data, erase me): using one bumps it (single use).
    one_time_counter: Mapped[int] = mapped_column(default=0, server_default="0")

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )
    consents: Mapped[list[ConsentRecord]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="ConsentRecord.id"
    )

    def __repr__(self) -> str:  # never the address: reprs end up in logs
        return f"<Subscriber {self.id} {self.uid}>"


class MailingList(Base):
    __tablename__ = "mailing_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    is_public: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Weekly schedule for automatic digests: weekday 0 = Monday, hour in `schedule_timezone`.
    schedule_weekday: Mapped[int | None] = mapped_column(sa.SmallInteger)
    schedule_hour: Mapped[int | None] = mapped_column(sa.SmallInteger)
    schedule_timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # The display name of the From header (the address stays MAIL_FROM's, which DKIM, SPF
    # and DMARC are set up for) and a Reply-To address; None: MAIL_FROM as it is, no Reply-To.
    from_name: Mapped[str | None] = mapped_column(sa.String(200))
    reply_to: Mapped[str | None] = mapped_column(sa.String(254))
    # The weekly digest goes out by itself (True) or waits for an editor's approval (False,
    # the default: nothing reaches readers that no editor has seen).
    send_automatically: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Auto-pause (mailer.digests.autopause): a sending digest pauses itself when its hard
    # bounces or complaints pass these percentages of the messages out, once at least
    # `pause_min_sent` are out. None: the site's AUTO_PAUSE_* setting; a rate of 0: never.
    pause_bounce_rate: Mapped[float | None] = mapped_column(sa.Float)
    pause_complaint_rate: Mapped[float | None] = mapped_column(sa.Float)
    pause_min_sent: Mapped[int | None] = mapped_column(sa.Integer)

    def __repr__(self) -> str:
        return f"<MailingList {self.slug}>"


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (sa.UniqueConstraint("subscriber_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mailing_list.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus), default=SubscriptionStatus.pending
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship(lazy="joined")


class ConsentRecord(Base):
    """Proof of consent: when, to which wording, through which form, from a hashed IP."""

    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(16))  # signup | confirm | preferences
    consent_version: Mapped[str] = mapped_column(sa.String(32))
    source: Mapped[str] = mapped_column(sa.String(64))  # e.g. form, embed, import
    lists: Mapped[str] = mapped_column(sa.String(500), default="")  # comma-separated slugs
    ip_hash: Mapped[str | None] = mapped_column(sa.String(32))  # keyed, truncated; never the IP
    # The language the wording was shown in (issue 12); None on records from before it.
    language: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="consents")

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "at": self.created_at.isoformat(),
            "consent_version": self.consent_version,
            "language": self.language,
            "source": self.source,
            "lists": [s for s in self.lists.split(",") if s],
            "ip_hash": self.ip_hash,
        }


class AddressMail(Base):
    """One mail a stranger could trigger (sign-up, link request), for the per-address cap.

    Keyed by the keyed address hash, never the address, and kept past the subscriber's erasure
    or purge so that the cap holds; rows older than the longest window are deleted.
    """

    __tablename__ = "address_mail"
    __table_args__ = (sa.Index("ix_address_mail_lookup", "address_hash", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))  # signup | link
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Suppression(Base):
    """An address never to be mailed, kept only as a keyed hash of its normalised form."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(enum_column(SuppressionReason))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
