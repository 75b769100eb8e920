"""How many test sends of a digest an editor may make: RATELIMIT_TEST_SEND, per editor.

A test send mails the digest to any address the editor types, from the network's domain and
DKIM-signed: in a stolen session, a way to mail anyone in the network's name. Each one is
recorded in the audit log (action "test_digest", the editor, the time, and the address it
went to, so that owners can see where a stolen session sent mail), and those records are
what is counted, in moving windows: the count is in the database, survives a Redis restart
and never fails open. A refused test records nothing. RATELIMIT_ENABLED=off lifts it, as it lifts
the other caps.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from flask import current_app
from limits import parse_many
from sqlalchemy import func, select, update

from mailer import audit, clock
from mailer.extensions import db
from mailer.models import AuditEvent, Editor

ACTION = "test_digest"


@functools.lru_cache(maxsize=8)
def _windows(setting: str) -> list[tuple[int, timedelta]]:
    return [(item.amount, timedelta(seconds=item.get_expiry())) for item in parse_many(setting)]


def windows() -> list[tuple[int, timedelta]]:
    """(at most n test sends, per window) from RATELIMIT_TEST_SEND, e.g. "10 per hour"."""
    return _windows(str(current_app.config["RATELIMIT_TEST_SEND"]))


def take(editor_id: int, digest_id: int, language: str, address: str) -> bool:
    """Count one test send of the editor to `address` now, if every window has room; False
    if not.

    The editor's row is locked first (an UPDATE that changes nothing), so two test sends
    posted at once are counted one after the other. The caller commits.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return _record(editor_id, digest_id, language, address)
    db.session.execute(
        update(Editor)
        .where(Editor.id == editor_id)
        .values(role=Editor.role)
        .execution_options(synchronize_session=False)
    )
    now = clock.now()
    for limit, window in windows():
        used = db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.editor_id == editor_id,
                AuditEvent.action == ACTION,
                AuditEvent.at > now - window,
            )
        )
        if (used or 0) >= limit:
            return False
    return _record(editor_id, digest_id, language, address)


def _record(editor_id: int, digest_id: int, language: str, address: str) -> bool:
    audit.record(
        ACTION,
        editor_id=editor_id,
        objects=("digest", digest_id),
        detail={"language": language, "to": address},
        at=clock.now(),
    )
    return True
