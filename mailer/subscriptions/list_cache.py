"""The public lists the sign-up form offers, kept a few seconds per process.

Every sign-up (GET and POST) needs them, and they change only when an editor edits a list: in
a burst, reading them once per request was a tenth of a sign-up's CPU. A change made through
this process (any flush that touches a MailingList) takes effect at once; one made in another
process (the other web workers, the CLI) within TTL seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailer.extensions import db
from mailer.models import MailingList

TTL = 5.0  # seconds
_KEY = "signup_public_lists"


def offered_lists() -> Sequence[MailingList]:
    """The public lists, oldest first: id, slug, name and language, in copies no session holds."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cached: tuple[float, Sequence[MailingList]] | None = app.extensions.get(_KEY)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    # Copies, not the session's rows: this process's threads share them, read-only.
    rows = db.session.execute(
        select(MailingList.id, MailingList.slug, MailingList.name, MailingList.language)
        .where(MailingList.is_public.is_(True))
        .order_by(MailingList.id)
    )
    lists = [
        MailingList(id=row.id, slug=row.slug, name=row.name, language=row.language, is_public=True)
        for row in rows
    ]
    app.extensions[_KEY] = (now + TTL, lists)
    return lists


def forget() -> None:
    """Read the lists again at the next sign-up (this process's app)."""
    if has_app_context():
        current_app.extensions.pop(_KEY, None)


@event.listens_for(Session, "after_flush")
def _lists_changed(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, MailingList) for obj in touched):
        forget()
