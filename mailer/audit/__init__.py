"""The audit log: record who did what, from which (keyed-hashed) network, and forget it later.

`record` adds one AuditEvent to the caller's transaction, so the record and the action
commit (or roll back) together. Never pass an address or other personal data in `detail`:
object ids only. One exception: a test send records the address it went to (owners read
the log; a test goes to any address typed, in the network's name, and a stolen session
would use that). The admin blueprint records every successful POST by itself
(mailer.admin.audit_log); pages that want a richer record (export, imports, editor
management) call `record` and the hook then leaves that request alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import delete

from mailer.extensions import db
from mailer.models import AuditEvent, Editor, utcnow
from mailer.privacy import ip_hash

MAX_IDS_LENGTH = 200

Objects = tuple[str, int | str | Iterable[int | str]]


def _ids(value: int | str | Iterable[int | str]) -> str:
    items = [value] if isinstance(value, int | str) else list(value)
    text = ",".join(str(item) for item in items)
    if len(text) > MAX_IDS_LENGTH:  # a bulk action: the count, not a cut-off list
        text = f"{len(items)} objects"
    return text


def record(
    action: str,
    *,
    editor_id: int | None,
    objects: Objects | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an audit event to the session (the caller commits). `objects`: (type, id or ids)."""
    network = ip_hash(request.remote_addr) if has_request_context() else None
    event = AuditEvent(
        at=at or utcnow(),
        editor_id=editor_id,
        action=action[:64],
        object_type=objects[0][:32] if objects else None,
        object_ids=_ids(objects[1]) if objects else None,
        network=network,
        detail=detail or {},
    )
    db.session.add(event)
    if has_request_context():
        g.audit_recorded = True
    return event


def login_attempt(editor: Editor | None) -> None:
    """A login form was sent: success names the editor, failure names nobody (no address)."""
    if editor is None:
        record("login.failure", editor_id=None)
        db.session.commit()
    else:
        record("login.success", editor_id=editor.id)


def retention() -> timedelta:
    return timedelta(days=float(current_app.config["AUDIT_RETENTION_DAYS"]))


def purge(now: datetime) -> int:
    """Delete the events older than AUDIT_RETENTION_DAYS (the only delete path there is)."""
    result = db.session.execute(
        delete(AuditEvent)
        .where(AuditEvent.at < now - retention())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
