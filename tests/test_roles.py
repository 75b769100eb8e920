"""Every admin route, as each role and as nobody: allowed or refused as ENDPOINT_ROLES says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from mailer.admin import access
from mailer.extensions import db
from mailer.models import Editor, Role
from tests.role_helpers import ROLES, login, make_editors, make_objects


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # The walk posts empty forms: the token would stop them before the role check does.
    return {"WTF_CSRF_ENABLED": False}


def admin_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every admin route, GET and POST."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((rule.endpoint, method, rule.rule))
    return found


def test_every_admin_endpoint_has_a_declared_role(app: Flask) -> None:
    endpoints = {endpoint for endpoint, _, _ in admin_routes(app)}
    assert endpoints - set(access.ENDPOINT_ROLES) == set()
    assert set(access.ENDPOINT_ROLES) - endpoints == set()  # no stale entries either


def _url(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **{k: values[k] for k in rule.arguments})


def _walk_order(routes: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    # Logging out, erasing and disabling change what later requests see: they go last.
    last = {
        "admin.logout": 3,
        "admin.logout_everywhere": 3,
        "admin.erase_subscriber": 1,
        "admin.disable_editor": 2,
        "admin.reset_second_factor": 2,
    }
    return sorted(routes, key=lambda r: (last.get(r[0], 0) if r[1] == "POST" else 0, r))


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_each_role_gets_exactly_its_routes(app: Flask, role: str) -> None:
    make_editors(app)
    values = make_objects(app)
    client = app.test_client()
    assert login(client, ROLES[role]).status_code == 303
    mine = Role(role)
    allowed_seen = refused_seen = 0
    for endpoint, method, _rule in _walk_order(admin_routes(app)):
        url = _url(app, endpoint, values)
        response = client.open(url, method=method, data={})
        response.close()  # a streamed export keeps its request context until closed
        needed = access.needed_role(endpoint, method)
        where = f"{role} {method} {url}"
        assert response.status_code < 500, where
        if needed is None or mine.allows(needed):
            assert response.status_code != 403, where
            allowed_seen += 1
        else:
            assert response.status_code == 403, where
            assert "Your role does not allow this" in response.get_data(as_text=True)
            refused_seen += 1
    assert allowed_seen > 0
    assert (refused_seen > 0) == (role != "owner")


def test_nobody_is_sent_to_the_login_page_everywhere(app: Flask) -> None:
    values = make_objects(app)
    client = app.test_client()
    for endpoint, method, _rule in admin_routes(app):
        if access.needed_role(endpoint, method) is None:
            continue
        response = client.open(_url(app, endpoint, values), method=method, data={})
        response.close()
        assert response.status_code in (302, 303), (method, endpoint)
        assert "/admin/login" in response.headers["Location"]


def test_an_undeclared_endpoint_is_refused_to_owners(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_editors(app)
    client = app.test_client()
    login(client, ROLES["owner"])
    assert client.get("/admin/").status_code == 200
    monkeypatch.delitem(access.ENDPOINT_ROLES, "admin.dashboard")
    assert client.get("/admin/").status_code == 403


def test_a_disabled_editors_open_session_ends_at_its_next_request(app: Flask) -> None:
    ids = make_editors(app)
    client = app.test_client()
    login(client, ROLES["editor"])
    assert client.get("/admin/lists").status_code == 200
    with app.app_context():
        editor = db.session.get(Editor, ids["editor"])
        assert editor is not None
        editor.disabled_at = editor.created_at
        db.session.commit()
    response = client.get("/admin/lists")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.get("/admin/lists").status_code == 302  # logged out for good
    assert login(client, ROLES["editor"]).status_code == 422  # and cannot log in again


def test_a_role_change_takes_effect_on_the_next_request(app: Flask) -> None:
    ids = make_editors(app)
    client = app.test_client()
    login(client, ROLES["owner"])
    assert client.get("/admin/subscribers/export").status_code == 200
    with app.app_context():
        owner = db.session.get(Editor, ids["owner"])
        assert owner is not None
        owner.role = Role.viewer
        db.session.commit()
    assert client.get("/admin/subscribers/export").status_code == 403
    assert client.get("/admin/").status_code == 200


def test_the_ui_hides_what_the_role_cannot_do(app: Flask) -> None:
    make_editors(app)
    make_objects(app)
    pages = {}
    for role in ("owner", "editor", "viewer"):
        client = app.test_client()
        login(client, ROLES[role])
        pages[role] = {
            path: client.get(path).get_data(as_text=True)
            for path in ("/admin/", "/admin/digests", "/admin/lists", "/admin/articles")
        }
        if role != "viewer":
            pages[role]["subs"] = client.get("/admin/subscribers").get_data(as_text=True)
            pages[role]["import"] = client.get("/admin/subscribers/import").get_data(as_text=True)
    assert "Editors</a>" in pages["owner"]["/admin/"]
    assert "Audit log</a>" in pages["owner"]["/admin/"]
    assert "Export CSV" in pages["owner"]["subs"]
    assert "already consented" in pages["owner"]["import"]
    assert "Editors</a>" not in pages["editor"]["/admin/"]
    assert "Export CSV" not in pages["editor"]["subs"]
    assert "already consented" not in pages["editor"]["import"]
    assert "New digest" in pages["editor"]["/admin/digests"]
    viewer = pages["viewer"]
    assert "Subscribers</a>" not in viewer["/admin/"]
    assert "New digest" not in viewer["/admin/"] and "New digest" not in viewer["/admin/digests"]
    assert "New list" not in viewer["/admin/lists"]
    assert "New article" not in viewer["/admin/articles"]
    assert "/preview" in viewer["/admin/digests"]  # a viewer follows a digest by its preview


def test_a_rule_per_method(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = {"GET": Role.viewer, "POST": Role.owner}
    monkeypatch.setitem(access.ENDPOINT_ROLES, "admin.lists", rule)
    assert access.needed_role("admin.lists", "GET") == Role.viewer
    assert access.needed_role("admin.lists", "HEAD") == Role.viewer
    assert access.needed_role("admin.lists", "POST") == Role.owner
    assert access.needed_role("admin.lists", "DELETE") == Role.owner  # unnamed: the highest
    with pytest.raises(access.Undeclared):
        access.needed_role("admin.nothing", "GET")


LINK = re.compile(r'<a [^>]*href="(/admin[^"#]*)"')
FORM = re.compile(
    r'<form [^>]*method="post"[^>]*action="(/admin[^"]*)"'
    r'|<form [^>]*action="(/admin[^"]*)"[^>]*method="post"'
)


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_no_page_offers_a_link_or_button_the_role_is_refused(app: Flask, role: str) -> None:
    make_editors(app)
    values = make_objects(app)
    client = app.test_client()
    login(client, ROLES[role])
    mine = Role(role)
    adapter = app.url_map.bind("localhost")
    offered = 0
    for endpoint, method, _rule in admin_routes(app):
        needed = access.needed_role(endpoint, method)
        if method != "GET" or needed is None or not mine.allows(needed):
            continue
        response = client.get(_url(app, endpoint, values))
        html = response.get_data(as_text=True)
        response.close()
        if "text/html" not in response.content_type:
            continue
        targets = [("GET", m) for m in LINK.findall(html)]
        targets += [("POST", a or b) for a, b in FORM.findall(html)]
        for target_method, path in targets:
            target = adapter.match(path.split("?")[0].replace("&amp;", "&"), method=target_method)
            wanted = access.needed_role(target[0], target_method)
            assert wanted is None or mine.allows(wanted), (role, endpoint, target_method, path)
            offered += 1
    assert offered > 10
