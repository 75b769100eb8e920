"""Editors: the people who run the newsletter from /admin, their roles and invitations, and
what guards their accounts (second factor, sessions, sign-in throttle)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, enum_column, utcnow


class Role(enum.Enum):
    """What an editor may do; each role may do everything the ones before it may."""

    viewer = "viewer"  # read-only dashboards and progress
    editor = "editor"  # articles, digests, lists, sending, normal imports
    owner = "owner"  # editors, settings, export, erase, confirmed import, suppressions

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Editor(UserMixin, Base):
    __tablename__ = "editor"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[Role] = mapped_column(
        enum_column(Role), default=Role.owner, server_default=Role.owner.value
    )
    # Set when an owner disables the account: no login, and every open session stops.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login's name
        return self.disabled_at is None

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


class EditorInvite(Base):
    """An owner's invitation: a one-time link (signed token naming this row and its nonce)."""

    __tablename__ = "editor_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    # Part of the signed token: a new invitation to the same address voids older links.
    nonce: Mapped[str] = mapped_column(sa.String(64))
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("editor.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    editor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("editor.id"))

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


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


class TrustedDevice(Base):
    """A browser an editor signed in with fully: its device cookie counts only while this row
    exists (mailer/accounts/devices.py). The cookie's nonce is kept as a keyed hash only."""

    __tablename__ = "trusted_device"
    # Ids are in the Account page's forms and the audit log: SQLite must not reuse them.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("editor.id", ondelete="CASCADE"), index=True
    )
    nonce_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Written at most once an hour (device_store.TOUCH_EVERY), not on every request.
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Coarse: browser family and system only, e.g. "firefox/windows" (accounts/user_agent.py).
    label: Mapped[str] = mapped_column(sa.String(32))


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
