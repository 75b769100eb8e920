"""A sending digest's page: the Pause, Resume and Cancel buttons, pressed as an editor does."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, DigestStatus
from tests.conftest import csrf_token, queued_tasks
from tests.test_admin import admin, editor  # noqa: F401  (fixtures)
from tests.test_sending import add_subscribers, digest_status, make_digest, start


def press(client: FlaskClient, digest_id: int, action: str) -> str:
    """Press the digest page's button for `action`; the page the editor lands on."""
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert re.search(rf'action="/admin/digests/{digest_id}/{action}"', page), page
    response = client.post(
        f"/admin/digests/{digest_id}/{action}", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    landed = client.get(response.headers["Location"])
    assert landed.status_code == 200
    return landed.get_data(as_text=True)


def test_pause_resume_and_cancel_buttons_work(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)
    assert digest_status(app, digest_id) == DigestStatus.sending

    assert "Paused." in press(admin, digest_id, "pause")
    assert digest_status(app, digest_id) == DigestStatus.paused

    before = len(queued_tasks(app, "bulk"))
    assert "Resumed." in press(admin, digest_id, "resume")
    assert digest_status(app, digest_id) == DigestStatus.sending
    assert len(queued_tasks(app, "bulk")) > before  # its batches are queued again

    assert "Cancelled." in press(admin, digest_id, "cancel")
    assert digest_status(app, digest_id) == DigestStatus.cancelled


def test_a_control_that_does_not_apply_answers_409(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    digest_id = make_digest(app)  # a draft: nothing to pause
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    response = admin.post(
        f"/admin/digests/{digest_id}/pause", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 409
    assert digest_status(app, digest_id) == DigestStatus.draft


def test_send_now_lands_on_a_page_that_shows_the_digest_on_its_way(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
) -> None:
    """The bug: the page came back as a draft with its Send button, until a reload."""
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    landed = press(admin, digest_id, "send")
    assert f'action="/admin/digests/{digest_id}/send"' not in landed  # no second Send
    assert f'action="/admin/digests/{digest_id}/schedule"' not in landed
    assert "starting" in landed and "draft" not in landed
    assert f'action="/admin/digests/{digest_id}/cancel"' in landed  # it can still be stopped
    assert [
        args for name, args in queued_tasks(app, "celery") if name == "mailer.start_digest"
    ] == [[digest_id]]
    # A second press (another tab, a double click) starts nothing more.
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    again = admin.post(f"/admin/digests/{digest_id}/send", data={"csrf_token": csrf_token(page)})
    assert again.status_code == 409
    assert len([n for n, _ in queued_tasks(app, "celery") if n == "mailer.start_digest"]) == 1
    # The worker claims it once; a redelivered start finds it claimed.
    assert start(app, digest_id) == 3
    assert start(app, digest_id) is None
    assert digest_status(app, digest_id) == DigestStatus.sending


def test_send_now_asks_once_more_and_a_get_sends_nothing(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
) -> None:
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Send now to 3 subscribers…" in page
    asked = admin.get(f"/admin/digests/{digest_id}/send")
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    assert "Send this digest now?" in html and "3 confirmed subscribers" in html
    assert f'<form method="post" action="/admin/digests/{digest_id}/send">' in html
    assert queued_tasks(app, "celery") == []
    assert digest_status(app, digest_id) == DigestStatus.draft
    press(admin, digest_id, "send")
    # Once it is on its way, the question leads back to the digest's page.
    again = admin.get(f"/admin/digests/{digest_id}/send")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/{digest_id}")
    assert admin.get("/admin/digests/999999/send").status_code == 404


def test_resuming_a_digest_with_nothing_left_open_finishes_it(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
) -> None:
    # Paused after its last batch had claimed every row: the rows were sent meanwhile, so
    # resuming queues nothing, and the digest must end `sent`, not stay paused for good.
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    press(admin, digest_id, "pause")
    with app.app_context():
        db.session.execute(update(Delivery).values(status=DeliveryStatus.sent))
        db.session.commit()
    assert "Resumed." in press(admin, digest_id, "resume")
    assert digest_status(app, digest_id) == DigestStatus.sent
