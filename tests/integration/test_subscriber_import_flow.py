"""The admin's subscriber import on real parts: upload, a Celery worker runs it, mails go out."""

from __future__ import annotations

import io
import time

from flask import Flask

from mailer.admin.auth import create_editor
from mailer.extensions import db
from tests.conftest import SmtpServer, csrf_token
from tests.integration.conftest import Worker
from tests.test_admin import PASSWORD, login


def test_upload_is_imported_by_the_worker_with_confirmations(
    live_app: Flask, smtp_server: SmtpServer, celery_worker: Worker
) -> None:
    with live_app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    client = live_app.test_client()
    assert login(client).status_code == 303
    token = csrf_token(client.get("/admin/subscribers/import").get_data(as_text=True))
    data = b"email,name\nana@example.org,Ana\nbad-address,X\nbo@example.org,\n"
    response = client.post(
        "/admin/subscribers/import",
        data={"csrf_token": token, "list": "weekly", "file": (io.BytesIO(data), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    url = response.headers["Location"] + ".json"
    deadline = time.monotonic() + 30
    progress = client.get(url).json
    while progress is not None and progress["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, celery_worker.output()[-3000:]
        time.sleep(0.2)
        progress = client.get(url).json
    assert progress is not None and progress["status"] == "done", progress
    assert (progress["imported"], progress["refused"], progress["rows_done"]) == (2, 1, 3)
    received = smtp_server.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in received) == ["ana@example.org", "bo@example.org"]
