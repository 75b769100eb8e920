"""Header injection through a list name or a subject (audit L4): refused at every door."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.admin.auth import create_editor
from mailer.delivery.headers import UnsafeHeader
from mailer.delivery.template import MessageTemplate
from mailer.digests import service as digests
from mailer.digests.content import list_id
from mailer.extensions import db
from mailer.models import Digest, MailingList
from tests.test_admin import PASSWORD, login, make_articles, post

PROBE = "Weekly\r\nX-Injected: yes"  # the audit's probe
MESSAGE = "Use a single line: no line breaks, tabs or other control characters."
LIST_FORM = {
    "name": "Weekly updates",
    "slug": "weekly",
    "language": "en",
    "is_public": "y",
    "schedule_timezone": "UTC",
}


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def weekly(app: Flask) -> MailingList:
    found = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
    assert found is not None
    return found


@pytest.mark.parametrize(
    "name", [PROBE, "Weekly\nBcc: victim@example.org", "Weekly\tx", "A\u2028B"]
)
def test_the_list_form_refuses_control_characters(
    app: Flask, admin: FlaskClient, name: str
) -> None:
    response = post(admin, "/admin/lists/1", {**LIST_FORM, "name": name})
    assert response.status_code == 422
    assert MESSAGE in response.get_data(as_text=True)
    with app.app_context():
        assert weekly(app).name == "Weekly updates"
    assert post(admin, "/admin/lists/1", LIST_FORM).status_code == 303


def test_the_digest_form_refuses_control_characters_in_the_subject(
    app: Flask, admin: FlaskClient
) -> None:
    make_articles(app, 1)
    with app.app_context():
        digest_id = digests.create_digest(weekly(app)).id
        db.session.commit()
    url = f"/admin/digests/{digest_id}"
    bad = post(admin, url, {"subject": "Hi\r\nBcc: victim@example.org", "intro": ""})
    assert bad.status_code == 422 and MESSAGE in bad.get_data(as_text=True)
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and "\n" not in digest.subject


def template(**changes: Any) -> MessageTemplate:
    fields: dict[str, Any] = {
        "subject": "This week",
        "sender": "News <news@example.org>",
        "text": "Hello\n",
        "html": "<p>Hello</p>",
        "headers": {"List-Id": "Weekly <weekly.example.org>"},
        "marker": re.compile(r"%%(\w+)%%"),
    }
    return MessageTemplate(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.org"},
        {"subject": "Привет\nBcc: victim@example.org"},  # encoded-word folding must not hide it
        {"sender": "News\r\n <news@example.org>"},
        {"headers": {"List-Id": f'"{PROBE}" <weekly.example.org>'}},
        {"headers": {"Precedence": "bulk\x00"}},
    ],
)
def test_every_fixed_header_is_checked_where_the_message_is_built(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(UnsafeHeader, match="line break or another control character"):
        template(**changes)


def test_a_long_subject_still_folds() -> None:
    raw = template(subject="Новости недели: свобода слова " * 4).render(
        "r@example.org", "<1@x>", {}
    )
    assert b"\r\n =?utf-8?" in raw


def test_a_stored_list_name_with_a_line_break_never_reaches_a_header(
    app: Flask, runner: Any
) -> None:
    """A name stored before the check (or by hand in the database): the probe of the audit."""
    make_articles(app, 1)
    with app.app_context():
        weekly(app).name = PROBE
        db.session.commit()
        with pytest.raises(UnsafeHeader):
            list_id(weekly(app))
    result = runner.invoke(args=["digest", "send", "--list", "weekly", "--no-wait"])
    assert result.exit_code == 1 and "control character" in result.output
    with app.app_context():
        assert db.session.scalar(select(Digest)) is None
