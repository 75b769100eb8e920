"""Subscriber imports started from the admin: a background job with its progress and report."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, utcnow
from mailer.models.subscribers import MailingList


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"  # nothing imported; `error` says why


class SubscriberImport(Base):
    """One uploaded CSV and what its import did.

    `data` (the uploaded file: addresses and names) is kept only until the job finishes or
    fails; the report keeps line numbers and reasons, never an address.
    """

    __tablename__ = "subscriber_import"
    __table_args__ = (sa.Index("ix_subscriber_import_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mailing_list.id", ondelete="CASCADE"), index=True
    )
    confirmed: Mapped[bool] = mapped_column(default=False)
    editor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("editor.id", ondelete="SET NULL"))
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[ImportStatus] = mapped_column(
        enum_column(ImportStatus), default=ImportStatus.queued
    )
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    already: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    # [[line, reason], ...]: the reasons of importing.validate/import_rows, no addresses.
    refused_rows: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last sign of life of the worker (claim, each progress step): the sweeper's clock.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    mailing_list: Mapped[MailingList] = relationship()

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.done, ImportStatus.failed)

    def __repr__(self) -> str:
        return f"<SubscriberImport {self.id} {self.status}>"
