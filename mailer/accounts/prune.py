"""What the sign-in keeps, and for how long (called by the hourly retention job).

- editor_session rows a day after they ended (revoked, or past the absolute timeout);
- login_throttle rows once their failures are forgotten (a day without any) and no lock
  or wait is running;
- login_event rows after RETENTION_LOGIN_EVENT_DAYS;
- trusted_device rows (trusted browsers) not used for 180 days: their cookies have expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_

from mailer.accounts import device_store
from mailer.extensions import db
from mailer.models import EditorSession, LoginEvent, LoginThrottle, TrustedDevice

FORGET_AFTER = timedelta(days=1)  # the throttle's (mailer/accounts/throttle.py)


def prune(now: datetime) -> int:
    """Delete what has expired as of `now`; the number of rows deleted. The caller commits."""
    cfg = current_app.config
    session_end = now - timedelta(hours=int(cfg["ADMIN_SESSION_MAX_HOURS"])) - timedelta(days=1)
    statements = [
        delete(EditorSession).where(
            or_(
                EditorSession.revoked_at < now - timedelta(days=1),
                EditorSession.created_at < session_end,
            )
        ),
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - FORGET_AFTER,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        ),
        delete(LoginEvent).where(
            LoginEvent.at < now - timedelta(days=int(cfg["RETENTION_LOGIN_EVENT_DAYS"]))
        ),
        delete(TrustedDevice).where(TrustedDevice.last_used_at < device_store.unused_since(now)),
    ]
    deleted = 0
    for statement in statements:
        result = db.session.execute(statement.execution_options(synchronize_session=False))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
