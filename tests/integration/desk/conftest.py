"""The editor's desk on real parts: a DKIM-signing Celery worker, the app over HTTP, Chromium.

The worker here signs with a key made for the session (the desk's test send must be the
real, signed message) and consumes its own Redis database, so it never takes the tasks of
the unsigned worker the other integration tests share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mailer import create_app
from mailer.admin.auth import create_editor
from mailer.extensions import db
from tests.conftest import (
    TEST_SECRET,
    SmtpServer,
    base_config,
    clear_redis,
    dispose,
    redis_db,
    reset_database,
)
from tests.integration.conftest import Worker
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving
from tests.test_dkim import DOMAIN, SELECTOR, rsa_key

EDITOR, PASSWORD = "editor@example.org", "correct horse battery staple"
WAIT = 20_000  # ms: a generous deadline for anything the page shows (the machine is shared)


class Dkim:
    def __init__(self, directory: Path) -> None:
        pem, self.dnsfunc = rsa_key(1024)
        self.key_file = directory / "dkim.pem"
        self.key_file.write_bytes(pem)

    @property
    def settings(self) -> dict[str, str]:
        return {
            "DKIM_SELECTOR": SELECTOR,
            "DKIM_DOMAIN": DOMAIN,
            "DKIM_PRIVATE_KEY_PATH": str(self.key_file),
        }


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> Dkim:
    return Dkim(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(scope="session")
def desk_redis_url(redis_base_url: str) -> str:
    return redis_db(redis_base_url, 3)


@pytest.fixture(scope="session")
def desk_worker(
    database_url: str,
    desk_redis_url: str,
    smtp_server: SmtpServer,
    dkim_key: Dkim,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    cfg = base_config(database_url, desk_redis_url, smtp_server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "FLASK_"))}
    env.update(
        {
            "MAILER_ENV": "production",
            "MAILER_DOTENV": "/nonexistent",
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": cfg["DATABASE_URL"],
            "REDIS_URL": desk_redis_url,
            "SMTP_URL": smtp_server.url,
            "BASE_URL": cfg["BASE_URL"],
            "MAIL_FROM": cfg["MAIL_FROM"],
            "SMTP_TIMEOUT": "5",
            **dkim_key.settings,
        }
    )
    worker = Worker(env, tmp_path_factory.mktemp("desk-worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def desk_app(
    database_url: str,
    desk_redis_url: str,
    smtp_server: SmtpServer,
    desk_worker: Worker,
    dkim_key: Dkim,
) -> Iterator[Flask]:
    """The app whose queue the signing worker consumes; feeds may come from loopback."""
    clear_redis(desk_redis_url)
    smtp_server.clear()
    app = create_app(
        {
            **base_config(database_url, desk_redis_url, smtp_server.url),
            **dkim_key.settings,
            # The test hook of the feed fetcher's address check: the feed server is on
            # loopback, which production refuses (mailer/articles/fetch.py).
            "FEED_PRIVATE_ADDRESSES": True,
        }
    )
    reset_database(app)
    with app.app_context():
        create_editor(EDITOR, PASSWORD)
        db.session.commit()
    yield app
    smtp_server.clear()
    dispose(app)


@pytest.fixture
def desk(desk_app: Flask) -> Iterator[str]:
    """The desk's base URL: the app over real HTTP on loopback."""
    with serving(desk_app) as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context()
    yield context
    context.close()


@pytest.fixture
def tab(context: BrowserContext) -> Page:
    return context.new_page()


def log_in(tab: Page, desk: str) -> None:
    tab.goto(f"{desk}/admin/")
    tab.get_by_label("Email address").fill(EDITOR)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=WAIT)


class FeedServer(ThreadingHTTPServer):
    """Serves one feed document at /feed.xml on loopback; counts the requests."""

    daemon_threads = True

    def __init__(self, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _FeedHandler)
        self.body, self.requests = body, 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/feed.xml"


class _FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests += 1
        if self.path != "/feed.xml":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def feed_server() -> Iterator[Callable[[bytes], FeedServer]]:
    started: list[FeedServer] = []

    def serve(body: bytes) -> FeedServer:
        server = FeedServer(body)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield serve
    for server in started:
        server.shutdown()
        server.server_close()
