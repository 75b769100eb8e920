"""Editors: the people who run the newsletter from /admin, and what guards their accounts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, utcnow


class Editor(UserMixin, Base):
    __tablename__ = "editor"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The TOTP secret, encrypted (Fernet, a key derived from SECRET_KEY); None: not enrolled.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    # The last 30-second time step whose code was accepted: a code works once (replay).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None

    def __repr__(self) -> str:
        return f"<Editor {self.id}>"


class RecoveryCode(Base):
    """One of an editor's ten single-use codes, kept as a SHA-256 hash (80 random bits each)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("editor.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EditorSession(Base):
    """A signed-in browser: the cookie holds a random id, the table its hash (revocable)."""

    __tablename__ = "editor_session"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    editor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("editor.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the editor last gave password and second factor in this session (re-auth).
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed sign-ins per account or per network, keyed by a keyed hash (never the value).

    An unknown address gets a row like a real one: the state cannot tell them apart.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "a:<hash>" / "n:<hash>"
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginEvent(Base):
    """A failed sign-in, a refused (throttled) one or a lock: what owners are shown."""

    __tablename__ = "login_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    editor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("editor.id", ondelete="SET NULL"), index=True
    )
    network_hash: Mapped[str] = mapped_column(sa.String(24))
    # password | second_factor | reauth | throttled | locked
    outcome: Mapped[str] = mapped_column(sa.String(16))
