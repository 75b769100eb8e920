"""The admin's session cookie (audit M1): its own name, SameSite=Strict, __Host- over https;
a link from another site is reloaded once from our page (the browser flow is in
tests/integration/test_admin_cookie_browser.py)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from mailer.accounts import sessions
from tests.accounts_helpers import EMAIL, PASSWORD, form_post, make_editor

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def test_over_https_the_cookie_is_host_prefixed_secure_and_strict(app: Flask) -> None:
    app.config["BASE_URL"] = "https://news.example.org"
    make_editor(app)
    client = app.test_client()
    response = form_post(
        client,
        "/admin/login",
        {"email": EMAIL, "password": PASSWORD},
        base_url="https://localhost",
    )
    assert response.status_code == 303
    (header,) = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-admin_session=")
    ]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in header
    assert "Domain" not in header and "Expires" not in header  # gone with the browser
    assert client.get("/admin/", base_url="https://localhost").status_code == 200


def test_a_cross_site_arrival_without_the_cookie_reloads_the_same_address(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/admin/digests/7?lang=fr", headers=CROSS_SITE)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="0;url=/admin/digests/7?lang=fr">' in page
    assert 'href="/admin/digests/7?lang=fr"' in page


def test_no_reload_from_our_own_site_for_a_post_or_with_the_cookie(
    app: Flask, client: FlaskClient
) -> None:
    assert (
        client.get("/admin/digests/7", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 302
    )
    assert client.get("/admin/digests/7").status_code == 302  # an old browser: no header
    assert client.post("/admin/logout", headers=CROSS_SITE).status_code != 200  # refused
    client.set_cookie(sessions.ADMIN_COOKIE_HTTP, "not a session")
    assert client.get("/admin/digests/7", headers=CROSS_SITE).status_code == 302


def test_logout_drops_the_cookie(app: Flask, client: FlaskClient) -> None:
    make_editor(app)
    assert (
        form_post(client, "/admin/login", {"email": EMAIL, "password": PASSWORD}).status_code == 303
    )
    assert client.get_cookie(sessions.ADMIN_COOKIE_HTTP) is not None
    assert form_post(client, "/admin/logout", {}, page="/admin/").status_code == 303
    assert client.get_cookie(sessions.ADMIN_COOKIE_HTTP) is None
