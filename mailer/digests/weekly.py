"""The weekly digest, reviewed: the week's one digest per list, no article twice, the review mail.

A digest counts for the week of a list's slot S when it is scheduled, sending, paused or sent
and its time (when it started, else when it is scheduled for) falls in (S - 7 days, S]:
by hand or by the scheduler alike. The scheduler drafts nothing for a week that has one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, func, select, update

from mailer import i18n
from mailer.delivery import Email
from mailer.emails import render_email
from mailer.extensions import db
from mailer.models import Digest, DigestItem, DigestStatus, Editor
from mailer.urls import external_url

WEEK = timedelta(days=7)
# The statuses of a digest that is on its way to readers, or got there.
COUNTED = (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused, DigestStatus.sent)


def lead_time() -> timedelta:
    """How long before its slot the week's digest is drafted (DIGEST_REVIEW_LEAD_HOURS)."""
    return timedelta(hours=int(current_app.config["DIGEST_REVIEW_LEAD_HOURS"]))


def week_digest(list_id: int, slot: datetime, exclude_id: int | None = None) -> Digest | None:
    """The list's digest of the week ending at `slot` (scheduled, sending or sent), if any."""
    when = func.coalesce(Digest.started_at, Digest.scheduled_at)
    query = select(Digest).where(
        Digest.list_id == list_id,
        Digest.status.in_(COUNTED),
        when > slot - WEEK,
        when <= slot,
    )
    if exclude_id is not None:
        query = query.where(Digest.id != exclude_id)
    return db.session.scalars(query.order_by(Digest.id).limit(1)).first()


def carried_articles(list_id: int) -> Select[Any]:
    """SELECT of the article ids a scheduled, sending or sent digest of the list carries."""
    return (
        select(DigestItem.article_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(Digest.list_id == list_id, Digest.status.in_(COUNTED))
    )


def clash(digest: Digest, when: datetime) -> Digest | None:
    """Another digest of the list, within a week of `when`, carrying one of this one's articles."""
    other_when = func.coalesce(Digest.started_at, Digest.scheduled_at)
    mine = select(DigestItem.article_id).where(DigestItem.digest_id == digest.id)
    return db.session.scalars(
        select(Digest)
        .join(DigestItem, DigestItem.digest_id == Digest.id)
        .where(
            Digest.list_id == digest.list_id,
            Digest.id != digest.id,
            Digest.status.in_(COUNTED),
            DigestItem.article_id.in_(mine),
            other_when > when - WEEK,
            other_when < when + WEEK,
        )
        .order_by(Digest.id)
        .limit(1)
    ).first()


def review_not_queued(since: datetime) -> list[int]:
    """Weekly digests still waiting (slot after `since`) whose review mail is not queued yet."""
    return list(
        db.session.scalars(
            select(Digest.id).where(
                Digest.schedule_slot > since,
                Digest.review_queued_at.is_(None),
                Digest.status.in_([DigestStatus.draft, DigestStatus.scheduled]),
            )
        )
    )


def mark_review_queued(digest_id: int, now: datetime) -> None:
    db.session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .values(review_queued_at=now)
        .execution_options(synchronize_session=False)
    )


def editor_ids() -> list[int]:
    """The editors who get the review mail: every active one (not the disabled)."""
    query = select(Editor.id).where(Editor.disabled_at.is_(None)).order_by(Editor.id)
    return list(db.session.scalars(query))


def local_label(when: datetime, timezone: str) -> str:
    """`when` on the list's clock, e.g. "Fri 27 Nov 2026, 09:00 (Europe/Berlin, UTC+01:00)"."""
    local = when.astimezone(ZoneInfo(timezone))
    return f"{local:%a %-d %b %Y, %H:%M} ({zone_label(timezone, when)})"


def zone_label(timezone: str, at: datetime) -> str:
    """The zone and its offset from UTC at `at`, e.g. "Europe/Berlin, UTC+01:00"."""
    offset = at.astimezone(ZoneInfo(timezone)).strftime("%z")
    return f"{timezone}, UTC{offset[:3]}:{offset[3:]}"


def review_email(digest_id: int, editor_id: int) -> Email | None:
    """The mail telling an editor the week's digest is drafted: what happens, and the link.

    No subscriber data and no credential: the link is the admin's digest page, behind login.
    None if the digest or the editor is gone, or the digest is no longer waiting.
    """
    digest = db.session.get(Digest, digest_id)
    editor = db.session.get(Editor, editor_id)
    if digest is None or editor is None or digest.schedule_slot is None:
        return None
    if not editor.is_active:  # disabled since the mail was queued
        return None
    if digest.status not in (DigestStatus.draft, DigestStatus.scheduled):
        return None
    mailing_list = digest.mailing_list
    return render_email(
        "digest_review",
        to=editor.email,
        language=i18n.SOURCE_LANGUAGE,  # editors' mails: the admin's language
        list_name=mailing_list.name,
        subject=digest.subject,
        articles=len(digest.items),
        automatic=digest.status == DigestStatus.scheduled,
        slot=local_label(digest.schedule_slot, mailing_list.schedule_timezone),
        review_url=external_url("admin.edit_digest", digest_id=digest.id),
    )
