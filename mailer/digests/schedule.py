"""Weekly schedules: when a list's next automatic digest is due (pure time arithmetic + one job)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.digests.service import articles_since_last_digest, create_digest
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList

logger = logging.getLogger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class NoSuchLocalTime(ValueError):
    """A wall-clock time the zone skips (clocks go forward)."""


def local_to_utc(wall: datetime, timezone: str) -> datetime:
    """A naive wall-clock time in `timezone` as UTC; the earlier one when clocks go back."""
    tz = ZoneInfo(timezone)
    aware = wall.replace(tzinfo=tz, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall.replace(fold=0):
        raise NoSuchLocalTime(f"{wall:%Y-%m-%d %H:%M} does not exist in {timezone}.")
    return utc


def latest_slot(weekday: int, hour: int, timezone: str, now: datetime) -> datetime:
    """The latest `weekday` at `hour` (wall-clock time in `timezone`) at or before `now`, in UTC."""
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    day = local_now.date() - timedelta(days=(local_now.weekday() - weekday) % 7)
    slot = datetime.combine(day, time(hour), tzinfo=tz)
    if slot > local_now:
        slot = datetime.combine(day - timedelta(days=7), time(hour), tzinfo=tz)
    return slot.astimezone(UTC)


def list_slot(mailing_list: MailingList, now: datetime) -> datetime | None:
    if mailing_list.schedule_weekday is None or mailing_list.schedule_hour is None:
        return None
    return latest_slot(
        mailing_list.schedule_weekday,
        mailing_list.schedule_hour,
        mailing_list.schedule_timezone,
        now,
    )


def create_due_digests(now: datetime, grace: timedelta) -> list[Digest]:
    """Make this week's digest for every list whose slot passed less than `grace` ago.

    A week without new articles makes nothing. The unique (list, slot) constraint means two
    schedulers running at once still make one digest.
    """
    created = []
    lists = db.session.scalars(select(MailingList).where(MailingList.schedule_weekday.is_not(None)))
    for mailing_list in lists:
        slot = list_slot(mailing_list, now)
        if slot is None or now - slot > grace:
            continue
        exists = db.session.scalar(
            select(Digest.id).where(Digest.list_id == mailing_list.id, Digest.schedule_slot == slot)
        )
        if exists is not None:
            continue
        articles = articles_since_last_digest(mailing_list)
        if not articles:
            continue
        try:
            with db.session.begin_nested():
                digest = create_digest(mailing_list, articles, schedule_slot=slot)
                digest.status, digest.scheduled_at = DigestStatus.scheduled, slot
        except IntegrityError:
            logger.info("list %s: the digest for %s exists already", mailing_list.id, slot)
            continue
        logger.info("list %s: digest %s made for the slot %s", mailing_list.id, digest.id, slot)
        created.append(digest)
    return created
