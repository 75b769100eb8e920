"""The admin's session cookie is its own, SameSite=Strict (audit M1), and an editor following a
link to the admin from another site (a webmail) still arrives signed in: a real Chromium on a
page of another site (a small HTTP server on `localhost`; the app is on `127.0.0.1`, another
site) clicks the link."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from mailer.accounts import sessions
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving
from tests.role_helpers import ROLES, make_editors
from tests.test_sending import make_digest

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def desk(app: Flask) -> Iterator[str]:
    make_editors(app)
    make_digest(app)
    with serving(app) as base:
        yield base


def webmail(target: str) -> Iterator[str]:
    """Another site: a page on `localhost` with one link to `target`."""
    body = f'<!doctype html><title>Inbox</title><a href="{target}">Review the digest</a>'.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/inbox"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    page = chromium.new_context().new_page()
    yield page
    page.context.close()


def log_in(tab: Page, desk: str, email: str) -> None:
    tab.goto(f"{desk}/admin/login")
    tab.get_by_label("Email address").fill(email)
    tab.get_by_label("Password").fill("correct horse battery staple")
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_admin_cookie_is_strict_and_a_link_from_a_webmail_still_arrives_signed_in(
    app: Flask, desk: str, tab: Page
) -> None:
    log_in(tab, desk, ROLES["editor"])
    (cookie,) = [c for c in tab.context.cookies() if c["name"] == sessions.ADMIN_COOKIE_HTTP]
    assert cookie["sameSite"] == "Strict" and cookie["httpOnly"] and cookie["path"] == "/"
    target = f"{desk}/admin/digests/1"
    for inbox in webmail(target):
        tab.goto(inbox)
        tab.get_by_role("link", name="Review the digest").click()
        expect(tab).to_have_url(target)
        expect(tab.get_by_role("button", name="Send test")).to_be_visible()  # signed in
        expect(tab.get_by_text("Your session has ended")).to_have_count(0)
    # Still signed in afterwards: the arrival ended nothing.
    tab.goto(f"{desk}/admin/")
    expect(tab.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_signed_out_visitor_from_another_site_lands_on_the_login_page(
    app: Flask, desk: str, tab: Page
) -> None:
    target = f"{desk}/admin/digests/1"
    for inbox in webmail(target):
        tab.goto(inbox)
        tab.get_by_role("link", name="Review the digest").click()
        expect(tab.get_by_role("heading", name="Editor login")).to_be_visible()
        assert "next=/admin/digests/1" in tab.url
