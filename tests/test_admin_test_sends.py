"""Test sends of a digest are limited per editor (RATELIMIT_TEST_SEND): a stolen session cannot
mail anyone in the network's name at will. Counted in the database, injected clock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import AuditEvent
from tests.accounts_helpers import FakeClock, install_clock
from tests.conftest import queued_tasks
from tests.role_helpers import PASSWORD, ROLES, make_editors
from tests.role_helpers import login as role_login
from tests.test_admin import post
from tests.test_sending import make_digest

OVER = "You have sent as many tests as allowed (3 per hour;5 per day per editor)."


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_TEST_SEND": "3 per hour;5 per day"}


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    return install_clock(app)


def signed_in(app: Flask, email: str) -> FlaskClient:
    with app.app_context():
        create_editor(email, PASSWORD)
        db.session.commit()
    client = app.test_client()
    assert role_login(client, email).status_code == 303
    return client


def send_test(client: FlaskClient, digest_id: int, address: str = "me@example.org") -> Any:
    page = f"/admin/digests/{digest_id}"
    return post(client, f"{page}/test", {"address": address}, page=page)


def queued_test_sends(app: Flask) -> int:
    return sum(1 for name, _args in queued_tasks(app) if name == "mailer.send_test_digest")


def test_the_fourth_test_in_an_hour_is_refused_with_a_clear_429(
    app: Flask, clock: FakeClock
) -> None:
    digest_id = make_digest(app)
    editor = signed_in(app, "editor@example.org")
    assert [send_test(editor, digest_id).status_code for _ in range(3)] == [303] * 3
    refused = send_test(editor, digest_id)
    assert refused.status_code == 429
    assert OVER in refused.get_data(as_text=True)
    assert queued_test_sends(app) == 3  # nothing queued for the refused one

    other = signed_in(app, "reporter@example.org")  # per editor: another is not held back
    assert send_test(other, digest_id).status_code == 303

    clock.advance(minutes=61)  # a moving window: the hour is over
    assert role_login(editor, "editor@example.org").status_code == 303  # the session idled out
    assert send_test(editor, digest_id).status_code == 303
    assert send_test(editor, digest_id).status_code == 303
    assert send_test(editor, digest_id).status_code == 429  # now the day's 5
    clock.advance(hours=23)
    assert role_login(editor, "editor@example.org").status_code == 303
    assert send_test(editor, digest_id).status_code == 303


def test_owners_see_on_the_audit_page_where_each_test_went(app: Flask, clock: FakeClock) -> None:
    """A stolen session's test sends mail anyone in the network's name: the audit log keeps
    the address each test went to, and shows it to owners only."""
    digest_id = make_digest(app)
    ids = make_editors(app)
    editor = app.test_client()
    assert role_login(editor, ROLES["editor"]).status_code == 303
    assert send_test(editor, digest_id, "Someone.Else@Example.net").status_code == 303
    assert queued_test_sends(app) == 1
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "test_digest")
        ).all()
        assert event.editor_id == ids["editor"]
        assert event.object_type == "digest" and event.object_ids == str(digest_id)
        assert event.detail == {"language": "en", "to": "Someone.Else@Example.net"}

    assert editor.get("/admin/audit").status_code == 403  # editors do not read the log
    owner = app.test_client()
    assert role_login(owner, ROLES["owner"]).status_code == 303
    page = owner.get("/admin/audit?action=test_digest")
    assert page.status_code == 200
    (row,) = re.findall(r"<tr><td>.*?</tr>", page.get_data(as_text=True), re.DOTALL)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in row.split("</td>")]
    assert cells[1:4] == [ROLES["editor"], "test_digest", f"digest {digest_id}"]
    assert cells[5] == "language=en, to=Someone.Else@Example.net"


def test_a_refused_test_records_no_address(app: Flask, clock: FakeClock) -> None:
    digest_id = make_digest(app)
    editor = signed_in(app, "editor@example.org")
    for _ in range(3):
        send_test(editor, digest_id)
    assert send_test(editor, digest_id, "another@example.net").status_code == 429
    with app.app_context():
        sent_to = [
            event.detail["to"]
            for event in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "test_digest")
            )
        ]
    assert sent_to == ["me@example.org"] * 3


def test_with_rate_limits_off_there_is_no_cap(app: Flask, clock: FakeClock) -> None:
    app.config["RATELIMIT_ENABLED"] = False
    digest_id = make_digest(app)
    editor = signed_in(app, "editor@example.org")
    assert [send_test(editor, digest_id).status_code for _ in range(6)] == [303] * 6
