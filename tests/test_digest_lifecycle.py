"""One path for a digest: the CLI, the admin and the scheduler start it the same way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.digests import lifecycle
from mailer.extensions import db
from mailer.models import Delivery, Digest, DigestStatus, utcnow
from mailer.tasks import start_digest
from tests.conftest import csrf_token, queued_tasks
from tests.test_admin import admin, editor, make_articles  # noqa: F401  (fixtures)
from tests.test_sending import add_subscribers, digest_status, make_digest


def starts(app: Flask) -> list[list[Any]]:
    return [args for name, args in queued_tasks(app, "celery") if name == "mailer.start_digest"]


def test_cli_send_queues_the_start_like_the_admin(app: Flask, runner: Any) -> None:
    add_subscribers(app, 4)
    make_articles(app, 2)
    result = runner.invoke(args=["digest", "send", "--list", "weekly", "--no-wait"])
    assert result.exit_code == 0, result.output
    assert "queued for the workers" in result.output
    with app.app_context():
        digest = db.session.scalars(select(Digest)).one()
        # Nothing claimed, rendered or fanned out in the operator's process: the worker does.
        assert digest.status == DigestStatus.scheduled and digest.starting
        assert digest.rendered_html is None
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert starts(app) == [[digest.id]]
    with app.app_context():
        start_digest(digest.id)  # as the worker runs it
    assert digest_status(app, digest.id) == DigestStatus.sending


def test_cli_send_waits_for_the_worker_and_shows_the_outcome(
    app: Flask, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --wait (the default) the CLI polls until a worker claimed and sent it."""
    add_subscribers(app, 2)
    make_articles(app, 1)
    real = lifecycle.start

    def start_and_claim(digest_id: int) -> bool:  # a worker that is very quick
        queued = real(digest_id)
        start_digest(digest_id)
        db.session.execute(
            Delivery.__table__.update()
            .where(Delivery.digest_id == digest_id)
            .values(status="skipped")
        )
        db.session.commit()
        return queued

    monkeypatch.setattr(lifecycle, "start", start_and_claim)
    result = runner.invoke(args=["digest", "send", "--list", "weekly"])
    assert result.exit_code == 0, result.output
    assert "skipped 2, remaining 0" in result.output


def test_a_scheduled_digest_can_be_unscheduled_from_the_admin_and_the_cli(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
    runner: Any,
) -> None:
    digest_id = make_digest(app)
    with app.app_context():
        lifecycle.schedule(digest_id, utcnow() + timedelta(days=1))
    page = admin.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Unschedule" in page
    response = admin.post(
        f"/admin/digests/{digest_id}/unschedule", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303
    assert digest_status(app, digest_id) == DigestStatus.draft
    again = runner.invoke(args=["digest", "unschedule", str(digest_id)])
    assert again.exit_code == 1 and "draft: it cannot be unscheduled" in again.output, again.output
    with app.app_context():
        lifecycle.schedule(digest_id, utcnow() + timedelta(hours=2))
    done = runner.invoke(args=["digest", "unschedule", str(digest_id)])
    assert done.exit_code == 0, done.output
    assert digest_status(app, digest_id) == DigestStatus.draft


def test_scheduling_in_the_past_or_a_starting_digest_is_refused(app: Flask) -> None:
    digest_id = make_digest(app)
    with app.app_context():
        with pytest.raises(lifecycle.PastTime):
            lifecycle.schedule(digest_id, utcnow() - timedelta(minutes=1))
        assert lifecycle.start(digest_id)
        with pytest.raises(lifecycle.NotSendable):
            lifecycle.unschedule(digest_id)  # on its way: cancel it instead
        with pytest.raises(lifecycle.NotSendable):
            lifecycle.start(digest_id)
        lifecycle.cancel(digest_id)
    assert digest_status(app, digest_id) == DigestStatus.cancelled
    assert starts(app) == [[digest_id]]
    with app.app_context():
        start_digest(digest_id)  # the queued start finds it cancelled: nothing claimed
    assert digest_status(app, digest_id) == DigestStatus.cancelled


def test_the_scheduler_starts_what_send_now_queued_if_the_queue_lost_it(app: Flask) -> None:
    digest_id = make_digest(app)
    with app.app_context():
        lifecycle.start(digest_id)
    with app.app_context():
        assert lifecycle.start_due() == [digest_id]
