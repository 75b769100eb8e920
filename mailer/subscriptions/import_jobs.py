"""Subscriber CSV imports from the admin, as background jobs with progress.

The web request stores the upload as a SubscriberImport (create_job, the caller commits) and
queues it; a worker runs it (run). The import stays all-or-nothing: the valid rows are
written in one transaction of the session, committed at the end together with the job's
counts. Progress steps go through a connection of their own in short commits, so the job
page sees them while the import transaction is still open.

SQLite has a single writer: while the import transaction holds the write lock no other
connection can commit. There the progress measures a first pass (checking every row, no
writes) and the second pass writes everything in one go; on PostgreSQL it measures the
writing itself.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mailer.extensions import db
from mailer.models import ImportStatus, MailingList, SubscriberImport, utcnow
from mailer.subscriptions import importing

logger = logging.getLogger(__name__)

RACE = (
    "Nothing imported: someone signed up with one of these addresses meanwhile. "
    "Import the file again."
)
CRASHED = "Nothing imported: the import stopped on an error on our side. Import the file again."
STALLED = "Nothing imported: the worker running this import stopped. Import the file again."
UNQUEUED = "Nothing imported: the job queue is unavailable. Try again in a few minutes."


def create_job(
    data: bytes, mailing_list: MailingList, *, confirmed: bool, editor_id: int | None
) -> SubscriberImport:
    """A queued import of `data` (an uploaded CSV) into `mailing_list`; the caller commits."""
    job = SubscriberImport(
        mailing_list=mailing_list,
        confirmed=confirmed,
        editor_id=editor_id,
        data=data,
        status=ImportStatus.queued,
        refused_rows=[],
    )
    db.session.add(job)
    db.session.flush()
    return job


def fail(job_id: int, message: str) -> None:
    """Mark a job failed and drop its upload, after rolling back whatever it had written."""
    db.session.rollback()
    now = utcnow()
    db.session.execute(
        update(SubscriberImport)
        .where(SubscriberImport.id == job_id)
        .values(
            status=ImportStatus.failed, error=message, data=None, finished_at=now, updated_at=now
        )
    )
    db.session.commit()
    logger.warning("subscriber import %s failed: %s", job_id, message)


def _step(job_id: int, **values: Any) -> None:
    """Commit progress through a connection of its own, outside the import transaction."""
    with db.engine.begin() as conn:
        conn.execute(
            update(SubscriberImport)
            .where(SubscriberImport.id == job_id)
            .values(updated_at=utcnow(), **values)
        )


class _Progress:
    def __init__(self, job_id: int) -> None:
        self.job_id, self.done = job_id, 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        _step(self.job_id, rows_done=self.done)


def run(job_id: int) -> list[int]:
    """Run a queued import once; the subscribers to send a confirmation mail (after its commit)."""
    claimed = db.session.execute(
        update(SubscriberImport)
        .where(SubscriberImport.id == job_id, SubscriberImport.status == ImportStatus.queued)
        .values(status=ImportStatus.running, updated_at=utcnow())
    )
    db.session.commit()
    if getattr(claimed, "rowcount", 0) != 1:
        logger.info("subscriber import %s: not queued, left alone", job_id)
        return []
    try:
        report = _import(job_id)
    except importing.BadFile as exc:
        fail(job_id, f"Nothing imported: {exc}")
        return []
    except IntegrityError:
        fail(job_id, RACE)
        return []
    except Exception:
        logger.exception("subscriber import %s: error", job_id)
        fail(job_id, CRASHED)
        raise
    return report.to_confirm


def _import(job_id: int) -> importing.ImportReport:
    """Check and write the rows; commit them with the job's counts, or raise (nothing written)."""
    job = db.session.get(SubscriberImport, job_id)
    assert job is not None
    records = importing.read_csv(
        job.data or b"", int(current_app.config["SUBSCRIBER_IMPORT_MAX_BYTES"])
    )
    if not records:
        raise importing.BadFile("The file has a header but no rows.")
    _step(job_id, rows_total=len(records))
    first_pass = db.engine.dialect.name == "sqlite"  # see the module docstring
    progress = _Progress(job_id)
    rows, refused = importing.validate(
        records, importing.list_language(job.mailing_list), progress if first_pass else None
    )
    if not first_pass:
        progress(len(refused))
    report = importing.import_rows(
        rows,
        [job.mailing_list],
        confirmed=job.confirmed,
        source=f"import, by editor {job.editor_id}",
        report=importing.ImportReport(refused=refused),
        progress=None if first_pass else progress,
    )
    job.status, job.finished_at, job.updated_at = ImportStatus.done, utcnow(), utcnow()
    job.rows_total = job.rows_done = len(records)
    job.imported, job.already, job.refused = report.imported, report.already, len(report.refused)
    job.refused_rows = [[line, why] for line, why in report.refused]
    job.data = None
    db.session.commit()
    logger.info(
        "subscriber import %s into list %s: %d imported, %d already, %d refused",
        job_id,
        job.list_id,
        report.imported,
        report.already,
        len(report.refused),
    )
    return report


def touch(job_id: int) -> None:
    """Reset a queued job's clock (it was queued again) and commit."""
    _step(job_id)


def stale_jobs(queued_for: timedelta, silent_for: timedelta) -> tuple[list[int], list[int]]:
    """Jobs queued long ago with no worker on them, and running jobs with no sign of life."""
    now = utcnow()
    queued = db.session.scalars(
        select(SubscriberImport.id).where(
            SubscriberImport.status == ImportStatus.queued,
            SubscriberImport.updated_at < now - queued_for,
        )
    ).all()
    stalled = db.session.scalars(
        select(SubscriberImport.id).where(
            SubscriberImport.status == ImportStatus.running,
            SubscriberImport.updated_at < now - silent_for,
        )
    ).all()
    return list(queued), list(stalled)


def as_json(job: SubscriberImport) -> dict[str, Any]:
    """What the job page polls: status, progress and counts (no row of the file)."""
    return {
        "id": job.id,
        "status": job.status.value,
        "rows_total": job.rows_total,
        "rows_done": job.rows_done,
        "imported": job.imported,
        "already": job.already,
        "refused": job.refused,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
