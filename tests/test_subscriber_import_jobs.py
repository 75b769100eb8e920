"""The admin's subscriber import as a background job: upload, queue, run, progress, report."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError
from sqlalchemy import func, select, text, update

from mailer import tasks as import_tasks
from mailer.extensions import db
from mailer.models import ImportStatus, SubscriberImport, SubscriptionStatus, utcnow
from mailer.subscriptions import import_jobs, importing
from tests.conftest import queued_tasks
from tests.test_subscriber_import import GOOD, admin, counts, post_form, prepare, subscriber

__all__ = ["admin"]  # the fixture, imported for its use here

URL = "/admin/subscribers/import"


def upload(admin: FlaskClient, content: bytes, **extra: Any) -> Any:
    return post_form(
        admin, URL, {"file": (io.BytesIO(content), "people.csv"), "list": "weekly", **extra}
    )


def job_id(response: Any) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert "/admin/subscribers/imports/" in location
    return int(location.rsplit("/", 1)[1])


def stored(app: Flask, import_id: int) -> SubscriberImport:
    with app.app_context():
        job = db.session.get(SubscriberImport, import_id)
        assert job is not None
        db.session.expunge(job)
        return job


def run(app: Flask, import_id: int) -> None:
    with app.app_context():
        import_tasks.run_subscriber_import(import_id)


def test_upload_queues_a_job_and_its_page_polls(app: Flask, admin: FlaskClient) -> None:
    prepare(app)
    import_id = job_id(upload(admin, GOOD.encode()))
    assert queued_tasks(app, "celery") == [("mailer.run_subscriber_import", [import_id])]
    job = stored(app, import_id)
    assert job.status == ImportStatus.queued and job.data == GOOD.encode()
    assert job.editor_id is not None and job.confirmed is False
    assert counts(app) == (2, 0)  # only prepare()'s: nothing imported yet
    progress = admin.get(f"/admin/subscribers/imports/{import_id}.json")
    assert progress.status_code == 200
    assert progress.json is not None and progress.json["status"] == "queued"
    assert progress.json["rows_done"] == 0 and progress.json["imported"] == 0
    page = admin.get(f"/admin/subscribers/imports/{import_id}").get_data(as_text=True)
    assert "<progress" in page and "queued" in page and "Waiting for a worker" in page
    assert "import_progress.js" in page and "<script>" not in page  # CSP: script-src 'self'
    assert f"/admin/subscribers/imports/{import_id}.json" in page


def test_the_task_imports_and_reports(app: Flask, admin: FlaskClient) -> None:
    prepare(app)
    import_id = job_id(upload(admin, GOOD.encode()))
    run(app, import_id)
    progress = admin.get(f"/admin/subscribers/imports/{import_id}.json").json
    assert progress is not None
    assert (progress["status"], progress["imported"], progress["already"]) == ("done", 2, 1)
    assert progress["refused"] == 6 and progress["rows_done"] == progress["rows_total"] == 9
    job = stored(app, import_id)
    assert job.data is None and job.finished_at is not None  # the upload is gone
    assert [5, "duplicate of line 2"] in job.refused_rows
    assert all("@" not in why for _line, why in job.refused_rows)
    page = admin.get(f"/admin/subscribers/imports/{import_id}").get_data(as_text=True)
    assert "Imported 2, already subscribed 1, refused 6." in page
    assert "<td>6</td><td>suppressed</td>" in page and "<td>5</td><td>duplicate of line 2" in page
    amira = subscriber(app, "amira@example.org")
    assert amira is not None and amira["subs"] == {"weekly": SubscriptionStatus.pending}
    assert amira["consents"][0][1] == f"import, by editor {job.editor_id}"
    assert [name for name, _args in queued_tasks(app)] == ["mailer.send_confirmation"] * 2
    run(app, import_id)  # a second copy of the task finds it done and does nothing
    assert len(queued_tasks(app)) == 2 and stored(app, import_id).status == ImportStatus.done
    assert "done" in admin.get(URL).get_data(as_text=True)  # recent imports


def test_confirmed_import_sends_no_mail(app: Flask, admin: FlaskClient) -> None:
    import_id = job_id(upload(admin, b"email\na@example.org\nb@example.org\n", confirmed="y"))
    run(app, import_id)
    job = stored(app, import_id)
    assert (job.status, job.imported, job.confirmed) == (ImportStatus.done, 2, True)
    assert queued_tasks(app) == []
    a = subscriber(app, "a@example.org")
    assert a is not None and a["subs"] == {"weekly": SubscriptionStatus.confirmed}


def test_progress_is_committed_while_the_import_transaction_is_open(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CHUNK", 2)
    rows = "".join(f"r{i}@example.org\n" for i in range(1, 9))
    import_id = job_id(upload(admin, ("email\n" + rows).encode()))
    seen: list[tuple[int, int, str]] = []
    original = importing._import_one

    def watching(row: importing.Row, *args: Any) -> Any:
        # What another process (the job page) sees meanwhile, on a connection of its own.
        with db.engine.connect() as other:
            done = other.scalar(
                text("SELECT rows_done FROM subscriber_import WHERE id = :id"), {"id": import_id}
            )
            written = other.scalar(text("SELECT count(*) FROM subscriber"))
            status = other.scalar(
                text("SELECT status FROM subscriber_import WHERE id = :id"), {"id": import_id}
            )
        seen.append((int(done), int(written), str(status)))
        return original(row, *args)

    monkeypatch.setattr(importing, "_import_one", watching)
    run(app, import_id)
    assert len(seen) == 8
    assert all(written == 0 and status == "running" for _done, written, status in seen)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert {done for done, _w, _s in seen} == {8}  # first pass: checked, then written
    else:
        assert [done for done, _w, _s in seen] == [0, 0, 2, 2, 4, 4, 6, 6]
    assert stored(app, import_id).status == ImportStatus.done and counts(app)[0] == 8


@pytest.mark.parametrize("config_overrides", [{"SUBSCRIBER_IMPORT_MAX_BYTES": 1000}])
def test_a_bad_file_fails_the_job_and_writes_nothing(app: Flask) -> None:
    with app.app_context():
        weekly = db.session.scalar(text("SELECT id FROM mailing_list WHERE slug = 'weekly'"))
        lst = db.session.get(importing.MailingList, weekly)
        assert lst is not None
        # Checked at upload too; here the limit shrank between upload and run.
        data = b"email\n" + b"a@example.org\n" * 100
        job = import_jobs.create_job(data, lst, confirmed=False, editor_id=None)
        db.session.commit()
        import_id = job.id
    run(app, import_id)
    job = stored(app, import_id)
    assert job.status == ImportStatus.failed and job.data is None
    assert job.error is not None and job.error.startswith("Nothing imported: The file is larger")
    assert counts(app) == (0, 0) and queued_tasks(app) == []


def test_an_error_mid_way_fails_the_job_and_writes_nothing(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CHUNK", 2)  # rows 1-2 are flushed before row 3 fails
    original = importing._import_one

    def failing(row: importing.Row, *args: Any) -> Any:
        if row.email == "r3@example.org":
            raise RuntimeError("database went away")
        return original(row, *args)

    monkeypatch.setattr(importing, "_import_one", failing)
    rows = "".join(f"r{i}@example.org\n" for i in range(1, 5))
    import_id = job_id(upload(admin, ("email\n" + rows).encode()))
    with pytest.raises(RuntimeError):
        run(app, import_id)
    job = stored(app, import_id)
    assert (job.status, job.error, job.data) == (ImportStatus.failed, import_jobs.CRASHED, None)
    assert counts(app) == (0, 0) and queued_tasks(app) == []
    page = admin.get(f"/admin/subscribers/imports/{import_id}").get_data(as_text=True)
    assert "Nothing imported" in page and "failed" in page


def test_a_queue_outage_fails_the_job_at_once(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: Any) -> None:
        raise OperationalError("Redis is away")

    monkeypatch.setattr(import_tasks.run_subscriber_import, "apply_async", down)
    import_id = job_id(upload(admin, b"email\na@example.org\n"))
    job = stored(app, import_id)
    assert (job.status, job.error, job.data) == (ImportStatus.failed, import_jobs.UNQUEUED, None)


def test_the_sweeper_requeues_lost_jobs_and_fails_dead_ones(app: Flask, admin: FlaskClient) -> None:
    lost = job_id(upload(admin, b"email\na@example.org\n"))
    dead = job_id(upload(admin, b"email\nb@example.org\n"))
    fresh = job_id(upload(admin, b"email\nc@example.org\n"))
    with app.app_context():
        long_ago = utcnow() - timedelta(hours=1)
        db.session.execute(
            update(SubscriberImport).where(SubscriberImport.id == lost).values(updated_at=long_ago)
        )
        db.session.execute(
            update(SubscriberImport)
            .where(SubscriberImport.id == dead)
            .values(status=ImportStatus.running, updated_at=long_ago)
        )
        db.session.commit()
        assert import_tasks.sweep_subscriber_imports() == 2
    assert stored(app, dead).status == ImportStatus.failed and stored(app, dead).data is None
    assert stored(app, lost).status == ImportStatus.queued
    assert [args for _name, args in queued_tasks(app, "celery")] == [
        [lost],
        [dead],
        [fresh],
        [lost],
    ]


def test_job_pages_need_a_login_and_a_job(app: Flask, client: FlaskClient) -> None:
    for path in ("/admin/subscribers/imports/1", "/admin/subscribers/imports/1.json"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.post(URL, data={"list": "weekly"}).status_code in (302, 400)


def test_a_missing_job_is_a_404(admin: FlaskClient) -> None:
    response = admin.get("/admin/subscribers/imports/999.json")
    assert response.status_code == 404 and response.json is not None
    assert response.json["error"]["code"] == "not_found" and response.json["error"]["message"]
    assert admin.get("/admin/subscribers/imports/999").status_code == 404


def test_upload_needs_the_csrf_token(app: Flask, admin: FlaskClient) -> None:
    response = admin.post(
        URL,
        data={"file": (io.BytesIO(b"email\na@example.org\n"), "x.csv"), "list": "weekly"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(SubscriberImport.id))) == 0
