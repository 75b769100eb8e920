"""SmtpTransport against real aiosmtpd servers: STARTTLS, implicit TLS, AUTH, reuse, errors."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask

from mailer.delivery import Email, SmtpServer, SmtpTransport
from mailer.extensions import db
from mailer.models import Subscriber
from mailer.subscriptions import service
from mailer.tasks import send_confirmation
from tests.conftest import RecordingHandler, _free_port
from tests.conftest import SmtpServer as SmtpSink


class CountingHandler(RecordingHandler):
    connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:  # noqa: N802
        if not getattr(session, "counted", False):
            session.counted = True
            type(self).connections += 1
        session.host_name = hostname
        return responses


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"mailer",
        b"s3cret",
    )
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, trustme.CA]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx, ca


@pytest.fixture
def starttls_server(
    tls: tuple[ssl.SSLContext, trustme.CA],
) -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    yield handler, port
    controller.stop()


def email(to: str = "reader@example.org") -> Email:
    return Email(
        to=to, subject="Hello", text="Body\n", sender="News <news@example.org>", html="<p>Body</p>"
    )


def test_starttls_and_auth(starttls_server: tuple[RecordingHandler, int]) -> None:
    handler, port = starttls_server
    url = f"smtp://mailer:s3cret@127.0.0.1:{port}?starttls=require&verify=off"
    transport = SmtpTransport(SmtpServer.from_url(url), timeout=5)
    transport.send(email())
    transport.close()
    assert handler.received[0].rcpt_tos == ["reader@example.org"]


def test_certificate_is_verified_by_default(starttls_server: tuple[RecordingHandler, int]) -> None:
    _handler, port = starttls_server
    url = f"smtp://mailer:s3cret@127.0.0.1:{port}?starttls=require"
    with pytest.raises(ssl.SSLCertVerificationError):
        SmtpTransport(SmtpServer.from_url(url), timeout=5).send(email())


# aiosmtpd's Controller.start() opens a TLS connection to its own implicit-TLS server to
# see it is up, and leaves that socket to the garbage collector (not ours to fix).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_implicit_tls(tls: tuple[ssl.SSLContext, trustme.CA]) -> None:
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=tls[0])
    controller.start()
    try:
        SmtpTransport(SmtpServer.from_url(f"smtps://127.0.0.1:{port}?verify=off"), timeout=5).send(
            email()
        )
    finally:
        controller.stop()
    assert len(handler.received) == 1


def test_one_connection_is_reused_and_reopened_after_a_drop() -> None:
    handler = CountingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), timeout=5)
        for i in range(5):
            transport.send(email(f"r{i}@example.org"))
        assert CountingHandler.connections == 1
        assert transport._conn is not None
        transport._conn.close()  # the connection went stale between two sends
        transport.send(email("after@example.org"))
        assert CountingHandler.connections == 2
        transport.close()
    finally:
        controller.stop()
    assert [r.rcpt_tos[0] for r in handler.received][-1] == "after@example.org"
    assert len(handler.received) == 6


def pending(app: Flask) -> int:
    with app.app_context():
        signup = service.subscribe("reader@example.org", lists=service.lists_by_slug(["weekly"]))
        db.session.commit()
        assert signup.subscriber_id is not None
        return signup.subscriber_id


def sent_at(app: Flask, subscriber_id: int) -> object:
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None
        return sub.confirm_sent_at


def test_task_retries_on_4xx_and_records_nothing(app: Flask, smtp_server: SmtpSink) -> None:
    subscriber_id = pending(app)
    smtp_server.clear()
    smtp_server.handler.reply = lambda envelope: "451 4.3.0 try again later"
    with app.app_context(), pytest.raises(smtplib.SMTPDataError) as exc:
        send_confirmation(subscriber_id)  # called directly, Celery re-raises instead of retrying
    assert exc.value.smtp_code == 451
    assert sent_at(app, subscriber_id) is None
    smtp_server.handler.reply = None
    with app.app_context():
        send_confirmation(subscriber_id)
    assert sent_at(app, subscriber_id) is not None
    assert len(smtp_server.received) == 1


def test_task_gives_up_on_5xx(app: Flask, smtp_server: SmtpSink) -> None:
    subscriber_id = pending(app)
    smtp_server.clear()
    smtp_server.handler.reply = lambda envelope: "550 5.1.1 no such user"
    with app.app_context():
        send_confirmation(subscriber_id)  # no exception: permanent, logged
    assert sent_at(app, subscriber_id) is None
    smtp_server.clear()


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": True, "redis": True}}
