"""Editors' pages: login, access control, articles, digests, lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.admin.auth import create_editor
from mailer.digests import service as digests
from mailer.digests import testsend
from mailer.extensions import db
from mailer.models import Article, Digest, DigestStatus, MailingList
from tests.conftest import csrf_token, queued_tasks

PASSWORD = "correct horse battery staple"


@pytest.fixture
def editor(app: Flask) -> int:
    with app.app_context():
        editor = create_editor("editor@example.org", PASSWORD)
        db.session.commit()
        return editor.id


def login(client: FlaskClient, email: str = "editor@example.org", password: str = PASSWORD) -> Any:
    page = client.get("/admin/login").get_data(as_text=True)
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)}
    )


@pytest.fixture
def admin(client: FlaskClient, editor: int) -> FlaskClient:
    assert login(client).status_code == 303
    return client


def post(
    client: FlaskClient, url: str, data: dict[str, Any] | None = None, page: str | None = None
) -> Any:
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **(data or {})})


def make_articles(app: Flask, n: int = 3, **extra: Any) -> list[int]:
    with app.app_context():
        articles = [
            Article(
                guid=f"g{i}",
                link=f"https://news.example.org/{i}",
                title=f"Story {i}",
                summary=f"Summary {i}",
                published_at=datetime(2026, 11, 10, tzinfo=UTC) + timedelta(days=i),
                **extra,
            )
            for i in range(n)
        ]
        db.session.add_all(articles)
        db.session.commit()
        return [a.id for a in articles]


ADMIN_PAGES = [
    "/admin/",
    "/admin/articles",
    "/admin/articles/new",
    "/admin/digests",
    "/admin/lists",
    "/admin/lists/1",
    "/admin/lists/new",
    "/admin/digests/1",
    "/admin/digests/1/preview",
    "/admin/digests/1/preview.html",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_logged_out_requests_are_redirected_to_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    assert "Story" not in response.get_data(as_text=True)


def test_logged_out_posts_change_nothing(app: Flask, client: FlaskClient) -> None:
    make_articles(app, 1)
    client.get("/subscribe")
    response = client.post("/admin/articles/1/delete", data={})
    assert response.status_code in (302, 400)
    with app.app_context():
        assert db.session.scalar(select(func.count(Article.id))) == 1


def test_login_rotates_the_session_and_logout_ends_it(
    app: Flask, client: FlaskClient, editor: int
) -> None:
    client.get("/admin/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    assert login(client).status_code == 303
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(editor)
    assert client.get("/admin/").status_code == 200
    post(client, "/admin/logout", page="/admin/")
    assert client.get("/admin/").status_code == 302


def test_wrong_password_or_unknown_editor_get_the_same_generic_error(
    client: FlaskClient, editor: int
) -> None:
    wrong = login(client, password="wrong password here")
    unknown = login(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 422
    message = "That email address and password do not match an editor."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)


class TestLoginRateLimit:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute"}

    def test_login_is_rate_limited(self, client: FlaskClient, editor: int) -> None:
        statuses = [login(client, password=f"wrong {i}").status_code for i in range(3)]
        assert statuses == [422, 422, 422]
        assert login(client).status_code == 429  # even the right password, for now


def test_login_does_not_redirect_off_site(client: FlaskClient, editor: int) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login?next=//evil.example/x",
        data={"email": "editor@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.headers["Location"] == "/admin/"


def test_article_create_sanitizes_and_edit_and_delete(app: Flask, admin: FlaskClient) -> None:
    response = post(
        admin,
        "/admin/articles/new",
        {
            "title": "A court ruling",
            "link": "https://news.example.org/ruling",
            "language": "en",
            "summary": "The court ruled.",
            "body_html": '<p onclick="x()">Text<script>alert(1)</script>'
            '<a href="javascript:alert(1)">bad</a>'
            '<img src="https://x.example/i.png" onerror="steal()"></p>',
        },
    )
    assert response.status_code == 303
    with app.app_context():
        article = db.session.scalar(select(Article))
        assert article is not None
        assert "<script" not in article.body_html and "onerror" not in article.body_html
        assert "onclick" not in article.body_html and "javascript:" not in article.body_html
        assert article.guid == "https://news.example.org/ruling"
        article_id = article.id
    edit = post(
        admin,
        f"/admin/articles/{article_id}",
        {"title": "A landmark ruling", "link": "https://news.example.org/ruling", "language": "en"},
    )
    assert edit.status_code == 303
    assert "A landmark ruling" in admin.get("/admin/articles").get_data(as_text=True)
    post(admin, f"/admin/articles/{article_id}/delete", page="/admin/articles")
    with app.app_context():
        assert db.session.scalar(select(func.count(Article.id))) == 0


def test_article_bad_input(app: Flask, admin: FlaskClient) -> None:
    make_articles(app, 1)
    for data in (
        {"title": "", "link": "https://a.example/x"},
        {"title": "t", "link": "javascript:alert(1)"},
        {"title": "x" * 10_000, "link": "https://a.example/x"},
        {"title": "dup", "link": "https://news.example.org/0"},
    ):
        response = post(admin, "/admin/articles/new", {"language": "en", **data})
        assert response.status_code == 422, data
    with app.app_context():
        assert db.session.scalar(select(func.count(Article.id))) == 1
    assert admin.get("/admin/articles/999").status_code == 404


def test_article_search_and_paging(app: Flask, admin: FlaskClient) -> None:
    make_articles(app, 30)
    page1 = admin.get("/admin/articles").get_data(as_text=True)
    assert "Story 29" in page1 and "Story 0<" not in page1 and "Page 1 of 2" in page1
    assert "Story 0<" in admin.get("/admin/articles?page=2").get_data(as_text=True)
    assert admin.get("/admin/articles?page=3").status_code == 404
    found = admin.get("/admin/articles?q=story 1").get_data(as_text=True)
    assert "Story 12" in found and "Story 29" not in found


def test_new_digest_preselects_articles_since_the_last_sent_one(
    app: Flask, admin: FlaskClient
) -> None:
    ids = make_articles(app, 4)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        old = digests.create_digest(weekly, [db.session.get(Article, ids[0])])
        old.status, old.started_at = DigestStatus.sent, datetime(2026, 11, 11, 12, tzinfo=UTC)
        db.session.commit()
    response = post(admin, "/admin/digests/new", {"list": "weekly"}, page="/admin/digests")
    assert response.status_code == 303
    with app.app_context():
        digest = db.session.scalars(select(Digest).order_by(Digest.id.desc())).first()
        assert digest is not None
        assert [a.id for a in digest.articles] == [
            ids[3],
            ids[2],
        ]  # newest first, after the last send
        assert digest.status == DigestStatus.draft


def test_digest_edit_reorders_removes_adds(app: Flask, admin: FlaskClient) -> None:
    ids = make_articles(app, 3)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        digest_id = digests.create_digest(weekly).id
        db.session.commit()
    url = f"/admin/digests/{digest_id}"
    base = {"subject": "This week", "intro": "Hello readers."}
    order = [ids[2], ids[1], ids[0]]
    post(admin, url, {**base, "article_ids": order, "action": f"up:{ids[0]}"})
    post(
        admin, url, {**base, "article_ids": [ids[2], ids[0], ids[1]], "action": f"remove:{ids[2]}"}
    )
    post(
        admin,
        url,
        {**base, "article_ids": [ids[0], ids[1]], "action": "add", "add_article": ids[2]},
    )
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        assert [a.id for a in digest.articles] == [ids[0], ids[1], ids[2]]
        assert digest.subject == "This week" and digest.intro == "Hello readers."


def test_digest_bad_input_and_locked_digest(app: Flask, admin: FlaskClient) -> None:
    make_articles(app, 1)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        digest = digests.create_digest(weekly)
        db.session.commit()
        digest_id = digest.id
    url = f"/admin/digests/{digest_id}"
    assert post(admin, url, {"subject": "x" * 10_240}).status_code == 422
    assert post(admin, url, {"subject": ""}).status_code == 422
    with app.app_context():
        locked = db.session.get(Digest, digest_id)
        assert locked is not None
        locked.status = DigestStatus.sending
        db.session.commit()
    response = post(admin, url, {"subject": "Changed"})
    assert response.status_code == 409
    assert "can no longer be edited" in response.get_data(as_text=True)
    with app.app_context():
        unchanged = db.session.get(Digest, digest_id)
        assert unchanged is not None and unchanged.subject != "Changed"
    assert admin.get("/admin/digests/999").status_code == 404
    assert admin.get("/admin/digests/999/preview").status_code == 404
    assert (
        post(admin, "/admin/digests/new", {"list": "nope"}, page="/admin/digests").status_code
        == 404
    )


def test_preview_and_test_send(app: Flask, admin: FlaskClient) -> None:
    make_articles(app, 2)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        digest_id = digests.create_digest(weekly, subject="Our week").id
        db.session.commit()
    page = admin.get(f"/admin/digests/{digest_id}/preview").get_data(as_text=True)
    assert "Our week" in page and "Story 1" in page
    html = admin.get(f"/admin/digests/{digest_id}/preview.html")
    assert html.status_code == 200 and "Story 0" in html.get_data(as_text=True)
    assert "frame-ancestors 'self'" in html.headers["Content-Security-Policy"]
    bad = post(
        admin,
        f"/admin/digests/{digest_id}/test",
        {"address": "not an address"},
        page=f"/admin/digests/{digest_id}",
    )
    assert bad.status_code == 303 and queued_tasks(app) == []
    post(
        admin,
        f"/admin/digests/{digest_id}/test",
        {"address": "me@example.org"},
        page=f"/admin/digests/{digest_id}",
    )
    ((name, args),) = queued_tasks(app)
    assert name == "mailer.send_test_digest" and args[0] == digest_id
    assert "@" not in str(args)  # an id stands for the address in the queue (audit I1)
    with app.app_context():
        test = testsend.message(args[1])
    assert test is not None and test.to == "me@example.org"


def test_list_schedule_edit(app: Flask, admin: FlaskClient) -> None:
    data = {
        "name": "Weekly updates",
        "slug": "weekly",
        "language": "en",
        "is_public": "y",
        "schedule_weekday": "4",
        "schedule_hour": "9",
        "schedule_timezone": "Europe/Berlin",
    }
    assert post(admin, "/admin/lists/1", data).status_code == 303
    with app.app_context():
        weekly = db.session.get(MailingList, 1)
        assert weekly is not None
        assert (weekly.schedule_weekday, weekly.schedule_hour, weekly.schedule_timezone) == (
            4,
            9,
            "Europe/Berlin",
        )
    for bad in (
        {"schedule_timezone": "Mars/Base"},
        {"schedule_hour": "25"},
        {"slug": "Bad Slug"},
    ):
        assert post(admin, "/admin/lists/1", {**data, **bad}).status_code == 422, bad
    # A slug another list has: 409 (tests/test_admin_lists.py)
    assert post(admin, "/admin/lists/1", {**data, "slug": "alerts"}).status_code == 409
    assert admin.get("/admin/lists/99").status_code == 404


def test_login_redirect_names_the_page_without_a_stray_question_mark(client: FlaskClient) -> None:
    """/admin/ asks for a login with next=/admin/, not /admin/? (Werkzeug's full_path adds a
    bare "?"); a query string is kept whole, but never an old subscriber search's ?q=."""
    from urllib.parse import parse_qs, urlsplit

    def next_of(path: str) -> str:
        location = urlsplit(client.get(path).headers["Location"])
        assert location.path == "/admin/login"
        return parse_qs(location.query)["next"][0]

    assert next_of("/admin/") == "/admin/"
    assert next_of("/admin/articles?q=a%26b&page=2") == "/admin/articles?q=a%26b&page=2"
    assert next_of("/admin/subscribers?search=abc&status=confirmed&page=2") == (
        "/admin/subscribers?search=abc&status=confirmed&page=2"
    )
    # An old GET search of subscribers: the text is dropped before the login sees it.
    dropped = client.get("/admin/subscribers?q=a%40b.example&status=confirmed")
    assert dropped.status_code == 303
    assert dropped.headers["Location"] == "/admin/subscribers?status=confirmed"
    assert next_of(dropped.headers["Location"]) == "/admin/subscribers?status=confirmed"
