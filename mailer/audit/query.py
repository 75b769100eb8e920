"""Reading the audit log: the filters of /admin/audit and the rows of `mailer audit export`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select

from mailer.extensions import db
from mailer.models import AuditEvent, Editor

CSV_COLUMNS = [
    "id",
    "at",
    "editor_id",
    "editor",
    "action",
    "object_type",
    "object_ids",
    "network",
    "detail",
]


@dataclass
class Filters:
    editor_id: int | None = None
    action: str | None = None
    since: date | None = None  # from the start of this day (UTC)
    until: date | None = None  # to the end of this day (UTC)

    def query(self) -> Select[AuditEvent]:
        query = select(AuditEvent)
        if self.editor_id is not None:
            query = query.where(AuditEvent.editor_id == self.editor_id)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.since is not None:
            query = query.where(AuditEvent.at >= _start(self.since))
        if self.until is not None:
            query = query.where(AuditEvent.at < _start(self.until) + timedelta(days=1))
        return query


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def page(filters: Filters, number: int, size: int) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and the number of pages."""
    query = filters.query()
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    rows = db.session.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    ).all()
    return list(rows), pages


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by("action")))


def editor_emails() -> dict[int, str]:
    return {row.id: row.email for row in db.session.execute(select(Editor.id, Editor.email))}


def csv_lines(filters: Filters, batch: int = 1000) -> Iterator[str]:
    """The events as CSV, oldest first, in batches (a year of events need not fit in memory)."""
    emails = editor_emails()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    last_id = 0
    while True:
        rows = db.session.scalars(
            filters.query().where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        for event in rows:
            writer.writerow(
                [
                    event.id,
                    event.at.isoformat(),
                    event.editor_id if event.editor_id is not None else "",
                    emails.get(event.editor_id, "") if event.editor_id is not None else "",
                    event.action,
                    event.object_type or "",
                    event.object_ids or "",
                    event.network or "",
                    json.dumps(event.detail or {}, sort_keys=True),
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        last_id = rows[-1].id
