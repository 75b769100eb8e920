"""Articles and the digests made of them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, utcnow
from mailer.models.subscribers import MailingList


class Story(Base):
    """One story told in several languages: its articles are translations of each other."""

    __tablename__ = "story"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An identifier feeds share between a story's versions (dc:identifier, or one guid).
    key: Mapped[str | None] = mapped_column(sa.String(500), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Article(Base):
    """One article of the network's site. `body_html` is sanitized on the way in."""

    __tablename__ = "article"
    # One version per language in a story (NULLs are distinct: unlinked articles are free).
    __table_args__ = (sa.UniqueConstraint("story_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    guid: Mapped[str] = mapped_column(sa.String(500), unique=True)
    link: Mapped[str] = mapped_column(sa.String(2000), unique=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    image_url: Mapped[str | None] = mapped_column(sa.String(2000))
    image_alt: Mapped[str | None] = mapped_column(sa.String(500))
    image_credit: Mapped[str | None] = mapped_column(sa.String(300))
    author: Mapped[str | None] = mapped_column(sa.String(200))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    tags: Mapped[str] = mapped_column(sa.String(500), default="")  # comma-separated
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    # The story this article is a version of; None: a story of its own, in one language.
    story_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("story.id", ondelete="SET NULL"), index=True
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.tags.split(",") if t.strip()]

    def __repr__(self) -> str:
        return f"<Article {self.id}>"


class DigestStatus(enum.StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"


EDITABLE = (DigestStatus.draft, DigestStatus.scheduled)


class Digest(Base):
    """One issue of a list's newsletter: a subject, an intro and ordered articles."""

    __tablename__ = "digest"
    __table_args__ = (sa.UniqueConstraint("list_id", "schedule_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("mailing_list.id"), index=True)
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    intro: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[DigestStatus] = mapped_column(
        enum_column(DigestStatus), default=DigestStatus.draft, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The weekly slot (UTC) an automatic digest was made for: unique per list, so two
    # schedulers can never make the same week's digest twice.
    schedule_slot: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the review mail of the week's digest was queued for the editors; a weekly digest
    # without it is queued again by the scheduler's next run (the queue was down).
    review_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rendered once when sending starts (Jinja + CSS inlining), with per-recipient slot
    # markers; every worker builds its messages from these, never from the templates.
    rendered_subject: Mapped[str | None] = mapped_column(sa.String(200))
    rendered_html: Mapped[str | None] = mapped_column(sa.Text)
    rendered_text: Mapped[str | None] = mapped_column(sa.Text)
    # Why it paused itself (mailer.digests.autopause), shown to editors; None after a resume
    # and for an editor's pause. Its bounce and complaint rates count only the messages sent
    # since `rates_since` (None: all of them): a resume after an auto-pause sets it.
    pause_reason: Mapped[str | None] = mapped_column(sa.String(500))
    rates_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    mailing_list: Mapped[MailingList] = relationship(lazy="joined")
    items: Mapped[list[DigestItem]] = relationship(
        back_populates="digest", cascade="all, delete-orphan", order_by="DigestItem.position"
    )

    @property
    def articles(self) -> list[Article]:
        return [item.article for item in self.items]

    @property
    def starting(self) -> bool:
        """Scheduled for a time that has come (sent now, or due): on its way, not yet claimed."""
        when = self.scheduled_at
        return self.status == DigestStatus.scheduled and when is not None and when <= utcnow()

    @property
    def shown_status(self) -> str:
        """The status as editors see it: a due scheduled digest is "starting"."""
        return "starting" if self.starting else self.status.value

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE and not self.starting

    def __repr__(self) -> str:
        return f"<Digest {self.id} {self.status}>"


class DigestItem(Base):
    __tablename__ = "digest_item"
    __table_args__ = (sa.UniqueConstraint("digest_id", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(
        sa.ForeignKey("digest.id", ondelete="CASCADE"), index=True
    )
    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)

    digest: Mapped[Digest] = relationship(back_populates="items")
    article: Mapped[Article] = relationship(lazy="joined")


class DigestText(Base):
    """A digest's subject and intro in one language other than its list's default.

    The default language's are the digest's own `subject` and `intro`; a language without
    a row falls back to them.
    """

    __tablename__ = "digest_text"
    __table_args__ = (sa.UniqueConstraint("digest_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(sa.ForeignKey("digest.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(200))
    intro: Mapped[str] = mapped_column(sa.Text, default="")


class DigestRendering(Base):
    """A digest rendered once for the readers of one language, with per-recipient slots."""

    __tablename__ = "digest_rendering"
    __table_args__ = (sa.UniqueConstraint("digest_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(sa.ForeignKey("digest.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str] = mapped_column(sa.Text)
