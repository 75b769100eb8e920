"""Weekly schedules across time zones and daylight-saving changes; one digest per slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.digests.schedule import create_due_digests, latest_slot, valid_timezone
from mailer.extensions import db
from mailer.models import Article, Digest, DigestStatus, MailingList

MONDAY, FRIDAY = 0, 4


@pytest.mark.parametrize(
    ("now", "weekday", "hour", "tz", "expected"),
    [
        # Friday 09:00 in Berlin is 08:00 UTC in winter (CET, UTC+1)...
        (
            datetime(2026, 11, 27, 8, 30, tzinfo=UTC),
            FRIDAY,
            9,
            "Europe/Berlin",
            datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        ),
        # ...and 07:00 UTC in summer (CEST, UTC+2).
        (
            datetime(2026, 7, 3, 7, 30, tzinfo=UTC),
            FRIDAY,
            9,
            "Europe/Berlin",
            datetime(2026, 7, 3, 7, 0, tzinfo=UTC),
        ),
        # One minute before the slot: last week's slot.
        (
            datetime(2026, 11, 27, 7, 59, tzinfo=UTC),
            FRIDAY,
            9,
            "Europe/Berlin",
            datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        ),
        # A zone east of UTC whose Monday starts on Sunday in UTC.
        (
            datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
            MONDAY,
            8,
            "Asia/Tokyo",
            datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        ),
        # A zone west of UTC: Monday 20:00 in New York is Tuesday 01:00 UTC.
        (
            datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
            MONDAY,
            20,
            "America/New_York",
            datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        ),
        # The week daylight saving ends in Europe (25 Oct 2026): Sunday 09:00 is 08:00 UTC.
        (
            datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
            6,
            9,
            "Europe/Berlin",
            datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_latest_slot(now: datetime, weekday: int, hour: int, tz: str, expected: datetime) -> None:
    assert latest_slot(weekday, hour, tz, now) == expected


def test_valid_timezone() -> None:
    assert valid_timezone("Europe/Berlin") and valid_timezone("UTC")
    assert not valid_timezone("Mars/Olympus") and not valid_timezone("../../etc/passwd")


def scheduled_list(app: Flask, articles: int, automatic: bool = True) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.send_automatically = automatic
        weekly.schedule_weekday, weekly.schedule_hour, weekly.schedule_timezone = (
            FRIDAY,
            9,
            "Europe/Berlin",
        )
        for i in range(articles):
            db.session.add(
                Article(
                    guid=f"g{i}",
                    link=f"https://example.org/a{i}",
                    title=f"Article {i}",
                    published_at=datetime(2026, 11, 20 + i, 12, tzinfo=UTC),
                )
            )
        db.session.commit()


def digests(app: Flask) -> list[Digest]:
    with app.app_context():
        rows = db.session.scalars(select(Digest)).all()
        for d in rows:
            _ = d.items
        return list(rows)


def test_the_slot_makes_one_scheduled_digest(app: Flask) -> None:
    scheduled_list(app, articles=3)
    at = datetime(2026, 11, 27, 8, 5, tzinfo=UTC)
    with app.app_context():
        made = create_due_digests(at, timedelta(hours=6))
        db.session.commit()
        assert len(made) == 1
        again = create_due_digests(at + timedelta(minutes=5), timedelta(hours=6))
        assert again == []
    (digest,) = digests(app)
    assert digest.status == DigestStatus.scheduled
    assert digest.schedule_slot == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert len(digest.items) == 3


def test_before_the_slot_or_long_after_it_nothing_is_made(app: Flask) -> None:
    scheduled_list(app, articles=2)
    with app.app_context():
        assert (
            create_due_digests(
                datetime(2026, 11, 27, 7, 59, tzinfo=UTC) + timedelta(days=-6), timedelta(hours=6)
            )
            == []
        )
        assert (
            create_due_digests(datetime(2026, 11, 27, 15, 0, tzinfo=UTC), timedelta(hours=6)) == []
        )


def test_an_empty_week_sends_nothing(app: Flask) -> None:
    scheduled_list(app, articles=0)
    with app.app_context():
        assert (
            create_due_digests(datetime(2026, 11, 27, 8, 5, tzinfo=UTC), timedelta(hours=6)) == []
        )
        assert db.session.scalar(select(func.count(Digest.id))) == 0
