"""Scheduling by hand on the list's clock (daylight saving included), the review mail's
content and who can open its link, the Approve and Hold buttons, the lead time setting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError
from sqlalchemy import select

from mailer import clock, create_app
from mailer.config_check import ConfigError
from mailer.digests import lifecycle
from mailer.digests.schedule import NoSuchLocalTime, local_to_utc
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, Editor, MailingList
from mailer.tasks import send_review_mail
from tests.conftest import csrf_token
from tests.test_admin import admin, editor  # noqa: F401  (fixtures)
from tests.test_sending import add_subscribers, make_digest
from tests.test_weekly_review import (
    LEAD,
    SLOT,
    add_articles,
    hand_send,
    review_mails,
    run_scheduler,
    the_digests,
    weekly_list,
)


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (datetime(2027, 1, 8, 9), "Europe/Berlin", datetime(2027, 1, 8, 8, tzinfo=UTC)),
        (datetime(2027, 7, 2, 9), "Europe/Berlin", datetime(2027, 7, 2, 7, tzinfo=UTC)),
        # 31 Oct 2027 02:30 happens twice in Berlin: the first (still summer time) is taken.
        (datetime(2027, 10, 31, 2, 30), "Europe/Berlin", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
        (
            datetime(2027, 3, 14, 1, 30),
            "America/New_York",
            datetime(2027, 3, 14, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_local_times_become_utc(local: datetime, zone: str, expected: datetime) -> None:
    assert local_to_utc(local, zone) == expected


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(NoSuchLocalTime, match="does not exist in Europe/Berlin"):
        local_to_utc(datetime(2027, 3, 28, 2, 30), "Europe/Berlin")


def berlin(app: Flask) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_timezone = "Europe/Berlin"
        db.session.commit()


def schedule_by_hand(client: FlaskClient, digest_id: int, send_at: str) -> str:
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    response = client.post(
        f"/admin/digests/{digest_id}/schedule",
        data={"csrf_token": csrf_token(page), "send_at": send_at},
    )
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def scheduled_at(app: Flask, digest_id: int) -> datetime | None:
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        return digest.scheduled_at


def test_the_schedule_form_reads_the_lists_clock(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    berlin(app)
    digest_id = make_digest(app)
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert re.search(r"or send at, Europe/Berlin, UTC\+0[12]:00 time", page)

    year = datetime.now(UTC).year + 1
    landed = schedule_by_hand(admin, digest_id, f"{year}-07-02T09:00")
    assert scheduled_at(app, digest_id) == datetime(year, 7, 2, 7, tzinfo=UTC)  # CEST
    assert "Europe/Berlin, UTC+02:00" in landed and f"{year}-07-02 07:00 UTC" in landed
    assert f'value="{year}-07-02T09:00"' in landed  # shown again on the list's clock

    lifecycle_unschedule(app, digest_id)
    schedule_by_hand(admin, digest_id, f"{year}-01-08T09:00")
    assert scheduled_at(app, digest_id) == datetime(year, 1, 8, 8, tzinfo=UTC)  # CET


def lifecycle_unschedule(app: Flask, digest_id: int) -> None:
    with app.app_context():
        lifecycle.unschedule(digest_id)


@pytest.mark.parametrize(
    ("send_at", "message"),
    [
        ("2027-03-28T02:30", "does not exist in Europe/Berlin"),
        ("next friday", "Give the date and time to send at (Europe/Berlin time)."),
        ("2027-01-08T09:00+05:00", "Give the date and time to send at (Europe/Berlin time)."),
        ("2001-01-05T09:00", "Choose a time in the future."),
    ],
)
def test_a_bad_time_is_explained_and_nothing_changes(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
    send_at: str,
    message: str,
) -> None:
    berlin(app)
    digest_id = make_digest(app)
    landed = schedule_by_hand(admin, digest_id, send_at)
    assert message in landed
    assert scheduled_at(app, digest_id) is None


def test_a_scheduled_digest_is_cancelled_from_its_page(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    digest_id = make_digest(app)
    with app.app_context():
        lifecycle.schedule(digest_id, datetime.now(UTC) + timedelta(days=2))
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Cancel digest" in page and "Unschedule" in page
    response = admin.post(
        f"/admin/digests/{digest_id}/cancel", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Digest, digest_id).status == DigestStatus.cancelled


# --- the review mail ---------------------------------------------------------------------------


def drafted(app: Flask, automatic: bool) -> int:
    """The week's digest, drafted by the scheduler at the lead time (injected clock)."""
    app.extensions[clock.EXTENSION] = lambda: SLOT - LEAD
    weekly_list(app, automatic=automatic)
    run_scheduler(app)
    (digest,) = the_digests(app)
    return digest.id


def test_the_review_mail_names_the_case_and_links_the_page_behind_login(
    app: Flask, outbox: list[EmailMessage], client: FlaskClient
) -> None:
    add_subscribers(app, 3)
    digest_id = drafted(app, automatic=False)
    with app.app_context():
        editor_id = db.session.scalar(select(Editor.id).order_by(Editor.id))
        assert editor_id is not None
        send_review_mail(digest_id, editor_id)
    (mail,) = outbox
    assert mail["To"] == "editor@example.org"
    assert "waits for your approval" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Fri 8 Jan 2027, 09:00 (Europe/Berlin, UTC+01:00)" in text
    assert "nothing is sent until an editor approves it" in text
    links = re.findall(r"https?://\S+", text)
    assert links == [f"http://localhost/admin/digests/{digest_id}"]  # no token in it
    raw = mail.as_string()
    assert "reader" not in raw and "R0" not in raw  # no subscriber data at all
    # The link alone opens nothing: a logged-out visitor is sent to the login page.
    response = client.get(f"/admin/digests/{digest_id}")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_an_automatic_digest_mail_says_it_goes_out_unless_held(
    app: Flask, outbox: list[EmailMessage]
) -> None:
    digest_id = drafted(app, automatic=True)
    with app.app_context():
        for editor_id in db.session.scalars(select(Editor.id)):
            send_review_mail(digest_id, editor_id)
        lifecycle.hold(digest_id)
        send_review_mail(digest_id, 1)  # a late copy still tells the truth: it is waiting
    assert len(outbox) == 3
    text = outbox[0].get_body(("plain",)).get_content()
    assert "goes out at that time unless an editor holds it" in text
    assert "waits for your approval" in outbox[2]["Subject"]


def press(client: FlaskClient, digest_id: int, button: str, action: str) -> str:
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert f">{button}</button>" in page
    response = client.post(
        f"/admin/digests/{digest_id}/{action}", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_the_page_says_which_case_and_its_buttons_work(app: Flask, client: FlaskClient) -> None:
    digest_id = drafted(app, automatic=True)
    from tests.test_admin import login

    assert login(client).status_code == 303
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Sent automatically:" in page and "unless an editor holds it" in page
    held = press(client, digest_id, "Hold", "hold")
    assert "Held by an editor:" in held and ">Approve</button>" in held
    listed = client.get("/admin/digests").get_data(as_text=True)
    assert "weekly, awaits approval" in listed
    approved = press(client, digest_id, "Approve", "approve")
    assert "Approved: it goes out at Fri 8 Jan 2027, 09:00 (Europe/Berlin, UTC+01:00)" in approved
    # Approving again answers 409 with the reason, not a 500.
    response = client.post(
        f"/admin/digests/{digest_id}/approve", data={"csrf_token": csrf_token(approved)}
    )
    assert response.status_code == 409
    assert "waiting for an editor" in response.get_data(as_text=True)


def test_a_review_mail_the_queue_lost_is_queued_at_the_next_run(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object) -> None:
        raise OperationalError("Redis is away")

    with monkeypatch.context() as patched:
        patched.setattr(send_review_mail, "apply_async", down)
        digest_id = drafted(app, automatic=False)  # drafted, but nobody could be told
    assert review_mails(app) == []
    run_scheduler(app)
    assert sorted(review_mails(app)) == [[digest_id, 1], [digest_id, 2]]
    run_scheduler(app)
    assert len(review_mails(app)) == 2  # queued once


def test_the_cli_approves_and_holds_the_weeks_digest(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest_id = drafted(app, automatic=True)
    runner = app.test_cli_runner()
    held = runner.invoke(args=["digest", "hold", str(digest_id)])
    assert held.exit_code == 0 and "hold done" in held.output, held.output
    assert the_digests(app)[0].status == DigestStatus.draft
    again = runner.invoke(args=["digest", "hold", str(digest_id)])
    assert again.exit_code == 1 and "draft: it cannot be held" in again.output, again.output
    approved = runner.invoke(args=["digest", "approve", str(digest_id)])
    assert approved.exit_code == 0, approved.output
    assert the_digests(app)[0].scheduled_at == SLOT


def test_approving_a_second_digest_for_a_week_is_refused(app: Flask) -> None:
    digest_id = drafted(app, automatic=False)
    add_subscribers(app, 1)
    with app.app_context():
        extra = add_articles(7, 1, prefix="late")
        db.session.commit()
    hand_send(app, extra)  # a digest of other articles goes out by hand this week
    with app.app_context():
        with pytest.raises(lifecycle.NotSendable, match="digest of the week"):
            lifecycle.approve(digest_id)
        assert db.session.get(Digest, digest_id).status == DigestStatus.draft


@pytest.mark.parametrize("bad", [-1, 145, "24"])
def test_the_lead_time_must_be_hours_within_a_week(
    database_url: str, bad: object, tmp_path: object
) -> None:
    with pytest.raises(ConfigError, match="DIGEST_REVIEW_LEAD_HOURS"):
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret-key-not-for-production",
                "DATABASE_URL": database_url,
                "DIGEST_REVIEW_LEAD_HOURS": bad,
            }
        )


def test_approve_and_hold_need_a_logged_in_editor_and_the_form_token(
    app: Flask, client: FlaskClient
) -> None:
    from tests.test_admin import login

    digest_id = drafted(app, automatic=True)
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    for action in ("hold", "approve"):  # a valid form token, but nobody logged in
        response = client.post(f"/admin/digests/{digest_id}/{action}", data={"csrf_token": token})
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert login(client).status_code == 303
    assert client.post(f"/admin/digests/{digest_id}/hold").status_code == 400  # no CSRF token
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.status == DigestStatus.scheduled
