"""Scheduling a digest by hand reads the time in its list's zone (issue 13, section 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.digests.schedule import NoSuchLocalTime, local_to_utc
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList
from tests.conftest import csrf_token
from tests.test_admin import admin, editor  # noqa: F401  (fixtures)
from tests.test_sending import make_digest


@pytest.mark.parametrize(
    ("wall", "zone", "expected"),
    [
        (datetime(2030, 1, 15, 9, 30), "America/New_York", datetime(2030, 1, 15, 14, 30)),
        (datetime(2030, 7, 15, 9, 30), "America/New_York", datetime(2030, 7, 15, 13, 30)),
        (datetime(2030, 7, 15, 9, 30), "UTC", datetime(2030, 7, 15, 9, 30)),
        # Clocks go back at 03:00 CEST on 27 Oct 2030: 02:30 happens twice, the first is taken.
        (datetime(2030, 10, 27, 2, 30), "Europe/Berlin", datetime(2030, 10, 27, 0, 30)),
    ],
)
def test_local_wall_time_to_utc(wall: datetime, zone: str, expected: datetime) -> None:
    assert local_to_utc(wall, zone) == expected.replace(tzinfo=UTC)


def test_a_skipped_local_time_is_refused() -> None:
    # Clocks go forward at 02:00 CET on 31 Mar 2030: 02:30 never happens in Berlin.
    with pytest.raises(NoSuchLocalTime, match="does not exist in Europe/Berlin"):
        local_to_utc(datetime(2030, 3, 31, 2, 30), "Europe/Berlin")


def schedule(admin: FlaskClient, digest_id: int, send_at: str) -> str:  # noqa: F811
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    response = admin.post(
        f"/admin/digests/{digest_id}/schedule",
        data={"send_at": send_at, "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_admin_schedules_in_the_lists_zone(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_timezone = "Asia/Tokyo"
        db.session.commit()
    digest_id = make_digest(app)
    page = schedule(admin, digest_id, "2030-01-15T09:30")
    assert (
        "Scheduled for Tue 15 Jan 2030, 09:30 (Asia/Tokyo, UTC+09:00), 2030-01-15 00:30 UTC."
        in page
    )
    assert 'value="2030-01-15T09:30"' in page  # the form shows it back in local time
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        assert digest.scheduled_at == datetime(2030, 1, 15, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("send_at", "message"),
    [
        ("", "Give the date and time to send at (Europe/Berlin time)."),
        ("next tuesday", "Give the date and time to send at (Europe/Berlin time)."),
        ("2030-01-15T09:30+05:00", "Give the date and time to send at (Europe/Berlin time)."),
        ("2030-03-31T02:30", "2030-03-31 02:30 does not exist in Europe/Berlin"),
        ("2001-01-01T09:00", "Choose a time in the future."),
    ],
)
def test_a_bad_time_is_refused_and_changes_nothing(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
    send_at: str,
    message: str,
) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_timezone = "Europe/Berlin"
        db.session.commit()
    digest_id = make_digest(app)
    assert message in schedule(admin, digest_id, send_at)
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        assert (digest.status, digest.scheduled_at) == (DigestStatus.draft, None)
