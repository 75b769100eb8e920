"""Findings of an attacker's review of the editors' desk, each with the test that shows it."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.accounts import service
from mailer.digests import weekly
from mailer.extensions import db
from mailer.models import Editor, LoginEvent, LoginThrottle
from mailer.numbers import whole_number
from tests.conftest import csrf_token
from tests.role_helpers import ROLES, login, make_editors, make_objects


def test_whole_numbers_are_ascii_digits_of_a_bounded_length() -> None:
    assert whole_number("42") == 42
    for bad in ("²", "٣", "-1", "1.5", "", None, "9" * 19):
        assert whole_number(bad) is None


def test_odd_digits_in_forms_and_queries_get_no_500(app: Flask, client: FlaskClient) -> None:
    make_editors(app)
    values = make_objects(app)
    login(client, ROLES["owner"])
    assert client.get("/admin/audit?editor=²&page=²").status_code == 200
    assert client.get("/admin/audit?page=" + "9" * 5000).status_code == 200
    url = f"/admin/digests/{values['digest_id']}"
    page = client.get(url).get_data(as_text=True)
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(page),
            "subject": "A week",
            "article_ids": ["²", "9" * 5000],
            "action": "up:²",
            "add_article": "²",
        },
    )
    assert response.status_code < 500


def test_a_nul_byte_in_the_login_address_is_a_plain_refusal(
    app: Flask, client: FlaskClient
) -> None:
    make_editors(app)
    assert login(client, "owner\x00@example.org").status_code in (422, 400)


def test_a_wrong_current_password_counts_as_a_failed_sign_in(
    app: Flask, client: FlaskClient
) -> None:
    """A stolen session cookie must not become an unthrottled password oracle."""
    make_editors(app)
    login(client, ROLES["viewer"])
    page = client.get("/admin/account/password").get_data(as_text=True)
    for _ in range(3):
        client.post(
            "/admin/account/password",
            data={
                "csrf_token": csrf_token(page),
                "current": "not the password",
                "password": "a new long passphrase 2026",
                "confirm": "a new long passphrase 2026",
            },
        )
    with app.app_context():
        outcomes = db.session.scalars(select(LoginEvent.outcome)).all()
        assert outcomes.count("password_change") == 3
        counted = db.session.scalars(select(LoginThrottle.failures)).all()
        assert counted and max(counted) == 3  # on the account's row and the network's


def test_disabled_editors_get_no_review_mail(app: Flask) -> None:
    ids = make_editors(app)
    with app.app_context():
        editor = db.session.get(Editor, ids["editor"])
        assert editor is not None
        service.disable(editor)
        db.session.commit()
        assert ids["editor"] not in weekly.editor_ids()
        assert ids["owner"] in weekly.editor_ids()


def test_a_disabled_editor_cannot_finish_a_pending_sign_in(app: Flask) -> None:
    ids = make_editors(app)
    with app.test_request_context("/admin/login/code"):
        from mailer.accounts import sessions

        editor = db.session.get(Editor, ids["editor"])
        assert editor is not None
        sessions.begin_pending(editor, "/admin/")
        assert sessions.pending() is not None
        service.disable(editor)
        db.session.commit()
        assert sessions.pending() is None
