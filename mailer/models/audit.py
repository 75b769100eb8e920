"""The audit log: one append-only row per state-changing admin action or login event.

No row is ever updated (a trigger refuses it on PostgreSQL and SQLite); rows are deleted
only by retention (AUDIT_RETENTION_DAYS). No subscriber's address and no raw IP is stored:
the client's network is a keyed hash (mailer.privacy.ip_hash).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import Base
from mailer.models.base import UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key: the log outlives whatever it names, and is never rewritten.
    editor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(32))
    object_ids: Mapped[str | None] = mapped_column(sa.String(200))
    network: Mapped[str | None] = mapped_column(sa.String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


# The same DDL the migration runs, for databases made by create_all (the tests).
NO_UPDATE_SQL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$ BEGIN"
        " RAISE EXCEPTION 'audit_event is append-only'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
        " FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
        " BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    ],
}
DROP_SQL = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event",
        "DROP FUNCTION IF EXISTS audit_event_append_only()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update"],
}

for _dialect, _statements in NO_UPDATE_SQL.items():
    for _sql in _statements:
        sa.event.listen(
            AuditEvent.__table__, "after_create", sa.DDL(_sql).execute_if(dialect=_dialect)
        )
