"""Control characters in what editors and operators send: a clear refusal, never a 500.

PostgreSQL refuses a NUL in text: before, every admin form that stored one (articles, a list's
description, a digest's intros, a subscriber's name) answered 500 there. Run with
TEST_DATABASE_URL to see the PostgreSQL side.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from sqlalchemy import func, select

import mailer
from mailer.admin.auth import create_editor
from mailer.controls import CheckedForm
from mailer.digests import service as digests
from mailer.extensions import db
from mailer.models import (
    Article,
    Digest,
    DigestText,
    MailingList,
    Subscriber,
    SubscriberImport,
)
from tests.conftest import csrf_token
from tests.test_admin import PASSWORD, login, make_articles, post
from tests.test_feeds import write_rss

NUL = "a\x00b"
MESSAGE = "Remove the control characters (such as NUL) from this field: they cannot be saved."
ONE_LINE = "Use a single line: no line breaks, tabs or other control characters."


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_every_form_checks_its_text_fields() -> None:
    """Every form of the package is a CheckedForm: a form added later cannot forget it."""
    for module in pkgutil.walk_packages(mailer.__path__, "mailer."):
        importlib.import_module(module.name)
    forms: list[type] = []
    stack: list[type] = [FlaskForm]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("mailer.") and sub is not CheckedForm:
                forms.append(sub)
    assert len(forms) > 15
    assert [f.__qualname__ for f in forms if not issubclass(f, CheckedForm)] == []


ARTICLE = {"title": "T", "link": "https://news.example.org/1", "language": "en"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", NUL),
        ("link", "https://news.example.org/a\x00b"),
        ("guid", NUL),
        ("summary", NUL),
        ("body_html", "<p>a\x00b</p>"),
        ("image_url", "https://news.example.org/a\x00b.jpg"),
        ("image_alt", NUL),
        ("image_credit", NUL),
        ("author", NUL),
        ("region", NUL),
        ("tags", NUL),
        ("summary", "vertical\x0btab"),
    ],
)
def test_the_article_form_refuses_control_characters(
    app: Flask, admin: FlaskClient, field: str, value: str
) -> None:
    response = post(admin, "/admin/articles/new", {**ARTICLE, field: value})
    assert response.status_code == 422
    assert MESSAGE in text(response)
    assert count(app, Article) == 0


def test_the_article_form_keeps_line_breaks_and_tabs_in_text_areas(
    app: Flask, admin: FlaskClient
) -> None:
    response = post(
        admin, "/admin/articles/new", {**ARTICLE, "summary": "One.\r\n\tTwo.", "body_html": ""}
    )
    assert response.status_code == 303
    assert count(app, Article) == 1


LIST = {"name": "Alerts", "slug": "new-list", "language": "en", "schedule_timezone": "UTC"}


@pytest.mark.parametrize("field", ["name", "description", "from_name", "schedule_timezone"])
def test_the_list_form_refuses_a_nul(app: Flask, admin: FlaskClient, field: str) -> None:
    before = count(app, MailingList)
    response = post(admin, "/admin/lists/new", {**LIST, field: NUL})
    assert response.status_code == 422
    assert MESSAGE in text(response) or ONE_LINE in text(response)
    assert count(app, MailingList) == before


def test_a_list_described_with_a_nul_by_command_is_refused(app: Flask, runner: Any) -> None:
    """The operator's path (mailer lists create) checks the same, in mailer.lists.fields."""
    from mailer.lists import service
    from mailer.lists.fields import InvalidList, ListFields

    with app.app_context(), pytest.raises(InvalidList) as refused:
        service.create_list(ListFields(name="N", slug="n", description=NUL), ["en"])
    assert refused.value.errors == {"description": MESSAGE}


@pytest.fixture
def digest_id(app: Flask) -> int:
    make_articles(app, 1)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        found = digests.create_digest(weekly, subject="This week", intro="Hello.")
        db.session.commit()
        return found.id


@pytest.mark.parametrize(
    "data",
    [
        {"subject": "This week", "intro": NUL},
        {"subject": "This week", "intro": "", "subject_fr": NUL},
        {"subject": "This week", "intro": "", "subject_fr": "Cette semaine", "intro_fr": NUL},
    ],
)
def test_the_digest_form_refuses_a_nul(
    app: Flask, admin: FlaskClient, digest_id: int, data: dict[str, str]
) -> None:
    response = post(admin, f"/admin/digests/{digest_id}", data)
    assert response.status_code == 422
    page = text(response)
    assert MESSAGE in page or "single line" in page or "control characters" in page
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.intro == "Hello."
        assert db.session.scalar(select(func.count(DigestText.id))) == 0


def test_a_new_digest_for_a_list_named_with_a_nul(app: Flask, admin: FlaskClient) -> None:
    response = post(admin, "/admin/digests/new", {"list": NUL}, page="/admin/digests")
    assert response.status_code == 404
    assert count(app, Digest) == 0


@pytest.mark.parametrize("field", ["name", "email"])
def test_adding_a_subscriber_refuses_a_nul(app: Flask, admin: FlaskClient, field: str) -> None:
    data = {"email": "new@example.org", "name": "New", "language": "en", "lists": "weekly"}
    response = post(admin, "/admin/subscribers/new", {**data, field: NUL})
    assert response.status_code == 422
    page = text(response)
    assert MESSAGE in page or "Enter a valid email address" in page
    assert count(app, Subscriber) == 0


def test_an_invitation_to_an_address_with_a_nul(app: Flask, admin: FlaskClient) -> None:
    response = post(
        admin,
        "/admin/editors/invite",
        {"email": "new\x00@example.org", "role": "editor"},
        page="/admin/editors",
    )
    assert response.status_code == 422


def upload(admin: FlaskClient, body: bytes) -> Any:
    page = text(admin.get("/admin/subscribers/import"))
    return admin.post(
        "/admin/subscribers/import",
        data={
            "csrf_token": csrf_token(page),
            "list": "weekly",
            "file": (io.BytesIO(body), "s.csv"),
        },
        content_type="multipart/form-data",
    )


def test_an_uploaded_csv_with_a_nul_names_its_line(app: Flask, admin: FlaskClient) -> None:
    response = upload(admin, b"email,name\nada@example.org,Ada\nbo@example.org,B\x00o\n")
    assert response.status_code == 422
    assert "The file contains a NUL character (line 3)" in text(response)
    assert count(app, SubscriberImport) == 0 and count(app, Subscriber) == 0


def test_csv_rows_with_control_characters_are_refused_by_line(
    app: Flask, runner: Any, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,name,language\n"
        "ada@example.org,Ada,en\n"  # line 2: imported
        "bo@example.org,B\x01o,en\n"  # line 3
        "cy@example.org,Cy\x85,en\n"  # line 4: C1 control (NEL)
        "dee@example.org\x1f,Dee,en\n",  # line 5: would be stripped into a valid address
        encoding="utf-8",
    )
    result = runner.invoke(args=["subscribers", "import", str(path), "--list", "weekly"])
    assert result.exit_code == 0, result.output
    assert "imported 1" in result.output and "refused 3" in result.output
    assert "  line 3: name contains a control character\n" in result.output
    assert "  line 4: name contains a control character\n" in result.output
    assert "  line 5: invalid address\n" in result.output
    with app.app_context():
        assert list(db.session.scalars(select(Subscriber.email))) == ["ada@example.org"]


def test_a_feed_with_control_characters_imports_without_them(
    app: Flask, admin: FlaskClient, tmp_path: Path
) -> None:
    """A feed is someone else's text: its control characters are dropped, like its scripts."""
    path = write_rss(
        tmp_path / "feed.xml",
        "<item><title>Free&#0; voices&#x1;</title><link>https://e.org/1</link>"
        "<description>A summary&#0;.</description><author>Nadia&#0;</author></item>",
    )
    page = text(admin.get("/admin/articles"))
    response = admin.post(
        "/admin/articles/import",
        data={"csrf_token": csrf_token(page), "file": (Path(path).open("rb"), "feed.xml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        (article,) = db.session.scalars(select(Article))
        assert (article.title, article.summary) == ("Free voices", "A summary.")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/articles?q=a%00b",
        "/admin/subscribers?q=a%00b",
        "/admin/audit?action=a%00b",
        "/admin/digests/1%00",
        "/archive/a%00b",
        "/archive?lang=a%00b",
        "/preferences/a%00b",
        "/subscribe?embed=%00",
    ],
)
def test_a_nul_in_an_address_bar_is_a_bad_request(admin: FlaskClient, path: str) -> None:
    """No URL of ours holds a NUL: refused before any view looks it up in the database."""
    response = admin.get(path)
    assert response.status_code == 400
    assert "The request could not be understood" in text(response)
