"""Admin list pages: create, edit (slug changes confirmed), delete through a confirmation page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.lists import service
from mailer.models import Digest, DigestStatus, MailingList
from tests.test_admin import PASSWORD, login, post
from tests.test_lists import populate_alerts
from tests.test_sending import add_subscribers, make_digest, start

NEW = {
    "name": "Climate desk",
    "slug": "climate",
    "description": "Weekly climate reporting.",
    "language": "fr",
    "from_name": "Le desk climat",
    "reply_to": "desk@example.org",
    "schedule_weekday": "2",
    "schedule_hour": "7",
    "schedule_timezone": "Europe/Paris",
    "weekly_mode": "auto",
}


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def list_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(MailingList.id))) or 0)


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_logged_out_editors_cannot_create_or_delete(app: Flask, client: FlaskClient) -> None:
    client.get("/subscribe")
    for url, data in (("/admin/lists/new", NEW), ("/admin/lists/2/delete", {"confirm": "alerts"})):
        response = client.post(url, data=data)
        assert response.status_code in (302, 400)
        assert "/admin/login" in response.headers.get("Location", "/admin/login")
    assert list_count(app) == 3


def test_posts_without_the_csrf_token_change_nothing(app: Flask, admin: FlaskClient) -> None:
    assert admin.post("/admin/lists/new", data=NEW).status_code == 400
    assert admin.post("/admin/lists/2/delete", data={"confirm": "alerts"}).status_code == 400
    assert list_count(app) == 3


def test_an_editor_creates_a_list_with_every_field(app: Flask, admin: FlaskClient) -> None:
    assert admin.get("/admin/lists/new").status_code == 200
    response = post(admin, "/admin/lists/new", NEW)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/lists"
    page = text(admin.get("/admin/lists"))
    assert "Climate desk" in page and "sent automatically" in page
    with app.app_context():
        climate = service.find("climate")
        assert climate is not None
        assert (climate.language, climate.from_name, climate.reply_to) == (
            "fr",
            "Le desk climat",
            "desk@example.org",
        )
        assert climate.send_automatically and not climate.is_public
        assert (climate.schedule_weekday, climate.schedule_hour) == (2, 7)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"name": "Climate\r\nBcc: all@example.org"}, "Use a single line"),
        ({"from_name": "Desk\nX: 1"}, "Use a single line"),
        ({"slug": "Climate Desk"}, "Lower-case letters, digits and hyphens."),
        ({"slug": "climate-"}, "not starting or ending with one"),
        ({"reply_to": "nobody"}, "valid email address"),
        ({"language": "xx"}, "Not a valid choice"),
        ({"schedule_timezone": "Mars/Base"}, "Unknown time zone"),
        ({"schedule_hour": ""}, "Choose the hour"),
        ({"schedule_weekday": ""}, "Choose the day of the weekly digest too"),
        ({"pause_bounce_rate": "lots"}, "Not a valid float value."),
        ({"pause_bounce_rate": "101"}, "From 0 (never) to 100."),
        ({"pause_bounce_rate": "nan"}, "From 0 (never) to 100."),
        ({"pause_complaint_rate": "-0.5"}, "From 0 (never) to 100."),
        ({"pause_min_sent": "0"}, "From 1 to 10,000,000."),
        ({"pause_min_sent": "2.5"}, "Not a valid integer value."),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_input_is_refused_with_422_and_a_message(
    app: Flask, admin: FlaskClient, bad: dict[str, str], message: str
) -> None:
    response = post(admin, "/admin/lists/new", {**NEW, **bad})
    assert response.status_code == 422
    assert message in text(response)
    assert list_count(app) == 3


def test_no_automatic_digest_turns_a_schedule_off_with_its_hour(
    app: Flask, admin: FlaskClient
) -> None:
    """The hour a scheduled list shows goes with "No automatic digest"; only an hour typed
    for a list without a schedule asks for its day."""
    assert post(admin, "/admin/lists/new", NEW).status_code == 303
    off = post(admin, "/admin/lists/4", {**NEW, "schedule_weekday": ""})  # the hour still 7
    assert off.status_code == 303
    with app.app_context():
        climate = service.find("climate")
        assert climate is not None
        assert (climate.schedule_weekday, climate.schedule_hour) == (None, None)
    again = post(admin, "/admin/lists/4", {**NEW, "schedule_weekday": ""})
    assert again.status_code == 422 and "Choose the day of the weekly digest too" in text(again)


def test_a_duplicate_slug_is_refused_with_409(app: Flask, admin: FlaskClient) -> None:
    response = post(admin, "/admin/lists/new", {**NEW, "slug": "alerts"})
    assert response.status_code == 409
    assert "Another list already has the slug" in text(response)
    assert list_count(app) == 3


def test_changing_a_slug_needs_the_checkbox(app: Flask, admin: FlaskClient) -> None:
    form = {**NEW, "name": "Weekly updates", "slug": "weekly-news", "language": "en"}
    refused = post(admin, "/admin/lists/1", form)
    assert refused.status_code == 422
    assert "article pages" in text(refused)
    with app.app_context():
        assert service.find("weekly") is not None
    # Everything else saves without it.
    assert post(admin, "/admin/lists/1", {**form, "slug": "weekly"}).status_code == 303
    done = post(admin, "/admin/lists/1", {**form, "confirm_slug_change": "y"})
    assert done.status_code == 303
    with app.app_context():
        assert service.find("weekly") is None and service.find("weekly-news") is not None


def test_deleting_a_list_with_subscribers_shows_the_counts_first(
    app: Flask, admin: FlaskClient
) -> None:
    populate_alerts(app)
    first = post(admin, "/admin/lists/2/delete", page="/admin/lists/2")
    assert first.status_code == 200
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text(first)))
    assert "2 confirmed subscribers and 1 pending ones" in summary
    assert "suppressed address stays suppressed" in summary
    assert list_count(app) == 3  # asked, not deleted
    second = post(admin, "/admin/lists/2/delete", {"confirm": "alerts"}, page="/admin/lists/2")
    assert second.status_code == 303 and second.headers["Location"] == "/admin/lists"
    assert list_count(app) == 2
    assert "deleted" in text(admin.get("/admin/lists"))


def test_a_confirmation_for_another_list_deletes_nothing(app: Flask, admin: FlaskClient) -> None:
    populate_alerts(app)
    response = post(admin, "/admin/lists/2/delete", {"confirm": "weekly"}, page="/admin/lists/2")
    assert response.status_code == 200 and list_count(app) == 3


def test_an_empty_list_is_deleted_at_once(app: Flask, admin: FlaskClient) -> None:
    response = post(admin, "/admin/lists/3/delete", page="/admin/lists/3")
    assert response.status_code == 303 and list_count(app) == 2
    assert post(admin, "/admin/lists/3/delete", page="/admin/lists/1").status_code == 404


def test_a_list_with_a_digest_going_out_is_not_deleted(app: Flask, admin: FlaskClient) -> None:
    add_subscribers(app, 1)
    digest_id = make_digest(app)
    start(app, digest_id)
    for data in ({}, {"confirm": "weekly"}):
        response = post(admin, "/admin/lists/1/delete", data, page="/admin/lists/1")
        assert response.status_code == 409
        assert "cancel it (or let it finish)" in text(response)
        assert 'name="confirm"' not in text(response)
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.status == DigestStatus.sending
    assert list_count(app) == 3
