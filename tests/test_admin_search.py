"""The subscriber search keeps its text on the server: a posted form, an opaque id in URLs.

The browser's view of it (every URL Chromium asks for) is in
tests/integration/test_subscriber_search_browser.py.
"""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.accounts import sessions
from mailer.admin import search as admin_search
from mailer.extensions import db
from mailer.models import AuditEvent, Editor, SubscriptionStatus
from tests.conftest import csrf_token
from tests.role_helpers import ROLES, login, make_editors
from tests.test_admin_subscribers import add, search

CONFIRMED = SubscriptionStatus.confirmed


@pytest.fixture
def owner(app: Flask, client: FlaskClient) -> FlaskClient:
    make_editors(app)
    assert login(client, ROLES["owner"]).status_code == 303
    add(app, "amira@example.org", "Amira", weekly=CONFIRMED)
    add(app, "bo@example.net", "Bo", weekly=CONFIRMED)
    return client


def search_id(location: str) -> str:
    return parse_qs(urlsplit(location).query)["search"][0]


def export_of(location: str) -> str:
    return location.replace("/admin/subscribers?", "/admin/subscribers/export?")


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_form_posts_with_a_token_and_links_carry_only_the_id(
    app: Flask, owner: FlaskClient
) -> None:
    assert owner.post("/admin/subscribers/search", data={"q": "bo@"}).status_code == 400
    before = audit_actions(app)
    found = search(owner, "bo@example.net", list="weekly")
    assert len(search_id(found)) >= 20 and "list=weekly" in found
    page = owner.get(found).get_data(as_text=True)
    assert "1 subscriber matching “bo@example.net”." in page and "amira@" not in page
    assert 'method="post"' in page and 'autocomplete="off"' in page
    # The export link carries the same id, and the export is the search's.
    assert f"/admin/subscribers/export?search={search_id(found)}&amp;list=weekly" in page
    response = owner.get(export_of(found))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["bo@example.net"]
    # A search changes nothing: the audit log gets the export, not the search.
    assert audit_actions(app)[len(before) :] == ["export_subscribers"]


def test_the_text_waits_in_redis_as_long_as_an_idle_session(app: Flask, owner: FlaskClient) -> None:
    found = search(owner, "example.net")
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    key = admin_search.KEY.format(search_id(found))
    idle = int(app.config["ADMIN_SESSION_IDLE_MINUTES"]) * 60
    assert 0 < client.ttl(key) <= idle
    client.expire(key, 5)
    assert owner.get(found).status_code == 200
    assert client.ttl(key) > 5  # renewed by use


def test_an_expired_or_made_up_search_starts_again_and_never_exports_everyone(
    app: Flask, owner: FlaskClient
) -> None:
    found = search(owner, "example.net", list="weekly")
    redis.Redis.from_url(app.config["REDIS_URL"]).delete(admin_search.KEY.format(search_id(found)))
    for url in (found, export_of(found), "/admin/subscribers?search=" + "x" * 500):
        response = owner.get(url)
        assert response.status_code == 303, url
        assert response.headers["Location"].startswith("/admin/subscribers")
        assert "search=" not in response.headers["Location"]
    page = owner.get("/admin/subscribers").get_data(as_text=True)
    assert "That search has expired. Search again." in page
    assert "export_subscribers" not in audit_actions(app)


def test_another_editors_search_is_not_theirs(app: Flask, owner: FlaskClient) -> None:
    found = search(owner, "bo@example.net")
    other = app.test_client()
    assert login(other, ROLES["editor"]).status_code == 303
    response = other.get(found)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/subscribers"
    page = other.get("/admin/subscribers").get_data(as_text=True)
    assert "That search has expired" in page and "matching" not in page


def test_the_old_get_search_is_dropped_unread(app: Flask, owner: FlaskClient) -> None:
    for url in (
        "/admin/subscribers?q=bo%40example.net&list=weekly&page=2",
        "/admin/subscribers/export?q=bo%40example.net&list=weekly",
    ):
        response = owner.get(url)
        assert response.status_code == 303, url
        assert response.headers["Location"] == "/admin/subscribers?list=weekly"
    page = owner.get("/admin/subscribers?list=weekly").get_data(as_text=True)
    assert "type your search in the search box" in page
    assert "2 subscribers." in page and 'name="q" value=""' in page  # not searched
    assert "export_subscribers" not in audit_actions(app)
    # An empty q from an old bookmark of the unfiltered page is harmless: no detour.
    assert owner.get("/admin/subscribers?q=&list=").status_code == 200


class _Down(redis.Redis):
    """A client for a Redis that does not answer."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=1, socket_connect_timeout=0.5)


def test_redis_down_gives_a_message_not_a_500(
    app: Flask, owner: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = search(owner, "example.net")
    monkeypatch.setitem(app.extensions, "redis", _Down())
    html = owner.get("/admin/subscribers").get_data(as_text=True)
    response = owner.post(
        "/admin/subscribers/search", data={"csrf_token": csrf_token(html), "q": "bo@example.net"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/subscribers"
    page = owner.get("/admin/subscribers").get_data(as_text=True)
    assert "The search could not be kept" in page
    for url in (found, export_of(found)):
        gone = owner.get(url)
        assert gone.status_code == 303 and gone.headers["Location"] == "/admin/subscribers"
    assert "Searching is unavailable for a moment" in owner.get(gone.headers["Location"]).text


def test_a_viewer_cannot_search(app: Flask, client: FlaskClient) -> None:
    make_editors(app)
    assert login(client, ROLES["viewer"]).status_code == 303
    html = client.get("/admin/").get_data(as_text=True)
    refused = client.post(
        "/admin/subscribers/search", data={"csrf_token": csrf_token(html), "q": "example"}
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("leaving", ["/admin/logout", "/admin/account/logout-everywhere"])
def test_logging_out_deletes_the_editors_searches(
    app: Flask, owner: FlaskClient, leaving: str
) -> None:
    # An address typed in the search box must not outlive the session it was typed in.
    store = redis.Redis.from_url(app.config["REDIS_URL"])
    mine = [search_id(search(owner, text)) for text in ("bo@example.net", "amira")]
    other = app.test_client()
    assert login(other, ROLES["editor"]).status_code == 303
    theirs = search_id(search(other, "example.net"))
    assert all(store.exists(admin_search.KEY.format(i)) for i in [*mine, theirs])
    page = owner.get("/admin/account").get_data(as_text=True)
    assert owner.post(leaving, data={"csrf_token": csrf_token(page)}).status_code == 303
    assert not any(store.exists(admin_search.KEY.format(i)) for i in mine)
    assert store.exists(admin_search.KEY.format(theirs))  # another editor's search stays
    left = {key.decode() for key in store.scan_iter("mailer:admin-search*")}
    assert not [key for key in left if any(i in key for i in mine)]
    assert len(left) == 2  # their search and its index; the owner's index went too


def test_logging_out_while_redis_is_down_still_logs_out(
    app: Flask, owner: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    search(owner, "bo@example.net")
    page = owner.get("/admin/account").get_data(as_text=True)

    def down(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("Redis is down")  # the store cannot be stopped here

    monkeypatch.setattr(app.extensions["redis"], "pipeline", down)
    assert owner.post("/admin/logout", data={"csrf_token": csrf_token(page)}).status_code == 303
    assert owner.get("/admin/").status_code == 302


def test_an_editor_disabled_by_an_owner_loses_their_searches(
    app: Flask, owner: FlaskClient
) -> None:
    # A suspected compromise: the owner disables the editor, and what they typed goes too.
    store = redis.Redis.from_url(app.config["REDIS_URL"])
    editor = app.test_client()
    assert login(editor, ROLES["editor"]).status_code == 303
    theirs = search_id(search(editor, "bo@example.net"))
    mine = search_id(search(owner, "amira"))
    with app.app_context():
        editor_id = db.session.scalar(select(Editor.id).where(Editor.email == ROLES["editor"]))
    page = owner.get("/admin/editors").get_data(as_text=True)
    off = owner.post(f"/admin/editors/{editor_id}/disable", data={"csrf_token": csrf_token(page)})
    assert off.status_code == 303
    assert not store.exists(admin_search.KEY.format(theirs))
    assert store.exists(admin_search.KEY.format(mine))  # the owner's own stay


def test_every_way_all_sessions_end_deletes_the_searches_and_only_that(
    app: Flask, owner: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Password and second-factor resets, forgetting this browser: they all end every session
    # through revoke_all; ending all but this one (forgetting another browser) keeps them.
    store = redis.Redis.from_url(app.config["REDIS_URL"])
    found = search_id(search(owner, "bo@example.net"))
    with app.app_context():
        owner_id = db.session.scalar(select(Editor.id).where(Editor.email == ROLES["owner"]))
        assert owner_id is not None
    with app.test_request_context():
        # This request's own session stays (what forgetting another browser does).
        monkeypatch.setattr(sessions, "current", lambda: SimpleNamespace(id_hash="this-one"))
        sessions.revoke_all(owner_id, keep_this_one=True)
        monkeypatch.undo()
    assert store.exists(admin_search.KEY.format(found))
    with app.test_request_context():
        sessions.revoke_all(owner_id)
    assert not store.exists(admin_search.KEY.format(found))


def test_another_editor_presenting_an_id_does_not_keep_it_alive(
    app: Flask, owner: FlaskClient
) -> None:
    store = redis.Redis.from_url(app.config["REDIS_URL"])
    found = search(owner, "bo@example.net")
    key = admin_search.KEY.format(search_id(found))
    store.expire(key, 5)
    other = app.test_client()
    assert login(other, ROLES["editor"]).status_code == 303
    other.get(found)  # an id seen in a shared screen or a proxy's log
    assert 0 < store.ttl(key) <= 5  # not renewed: it expires, and logging out reaches it
