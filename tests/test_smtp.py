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

from mailer.delivery import Email, SmtpServer, SmtpTransport, SmtpUrlError
from mailer.delivery.smtp import PlaintextAuthRefused
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


@pytest.fixture
def trusted_ca(
    tls: tuple[ssl.SSLContext, trustme.CA], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test CA in the CA store (as an operator adds a private CA), not verify=off."""
    path = tmp_path / "ca.pem"
    tls[1].cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


def test_starttls_and_auth(starttls_server: tuple[RecordingHandler, int], trusted_ca: None) -> None:
    handler, port = starttls_server
    url = f"smtp://mailer:s3cret@127.0.0.1:{port}?starttls=require"
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


# --- TLS policy (audit M7): no AUTH and no message over a plaintext session -------------------


class AuthRecorder:
    """Records every AUTH attempt, with whether the session was encrypted at the time."""

    def __init__(self) -> None:
        self.attempts: list[tuple[bytes, bytes, bool]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.attempts.append((auth_data.login, auth_data.password, session.ssl is not None))
        return authenticator(server, session, envelope, mechanism, auth_data)


@pytest.fixture
def plaintext_server() -> Iterator[tuple[RecordingHandler, AuthRecorder, int]]:
    """What a man in the middle shows: no STARTTLS, and AUTH gladly taken in plaintext."""
    handler, auth, port = RecordingHandler(), AuthRecorder(), _free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False
    )
    controller.start()
    yield handler, auth, port
    controller.stop()


@pytest.mark.parametrize("query", ["", "?starttls=auto", "?starttls=require"])
def test_credentials_never_go_to_a_server_without_starttls(
    plaintext_server: tuple[RecordingHandler, AuthRecorder, int], query: str
) -> None:
    handler, auth, port = plaintext_server
    transport = SmtpTransport(
        SmtpServer.from_url(f"smtp://mailer:s3cret@127.0.0.1:{port}{query}"), timeout=5
    )
    with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
        transport.send(email())
    assert auth.attempts == [] and handler.received == []


def test_starttls_off_with_credentials_is_refused_when_parsed() -> None:
    with pytest.raises(SmtpUrlError, match="never sends AUTH in plaintext"):
        SmtpServer.from_url("smtp://mailer:s3cret@127.0.0.1:2525?starttls=off")


def test_a_password_without_a_user_name_is_refused() -> None:
    """It would be dropped without a word (no AUTH without a user name): say so instead."""
    with pytest.raises(SmtpUrlError, match="password but no user name") as refused:
        SmtpServer.from_url("smtp://:s3cret@127.0.0.1:2525?starttls=off")
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mailer:s3cret@127.0.0.1:2525?starttls=require&verify=off",
        "smtps://mailer:s3cret@localhost?verify=off",
        "smtp://mail.example.org?verify=off",
        "smtp://mail.example.org?starttls=off&verify=off",
        "smtps://mail.example.org?verify=off",
        "smtp://[2001:db8::25]?verify=off",
        "smtp://localhost.example.org?verify=off",
    ],
)
def test_verify_off_is_refused_with_credentials_or_off_loopback(url: str) -> None:
    """A man in the middle would get the password, or read and change every message."""
    with pytest.raises(SmtpUrlError, match="verify=off") as refused:
        SmtpServer.from_url(url)
    assert "s3cret" not in str(refused.value)


def test_verify_off_with_credentials_is_refused_in_a_list_of_servers() -> None:
    from mailer.delivery.smtp_url import parse_smtp_urls

    with pytest.raises(SmtpUrlError, match="entry 2 of 2: .*verify=off") as refused:
        parse_smtp_urls("smtp://127.0.0.1:2525, smtps://u:s3cret@mail.example.org?verify=off")
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["smtps://127.0.0.1?verify=off", "smtp://localhost?verify=off", "smtp://[::1]?verify=off"],
)
def test_verify_off_stays_possible_for_a_loopback_relay_without_credentials(url: str) -> None:
    assert SmtpServer.from_url(url).verify is False


def test_a_plaintext_session_never_logs_in_even_if_the_url_check_is_bypassed(
    plaintext_server: tuple[RecordingHandler, AuthRecorder, int],
) -> None:
    handler, auth, port = plaintext_server
    server = SmtpServer("127.0.0.1", port, False, "off", "mailer", "s3cret", True)
    with pytest.raises(PlaintextAuthRefused, match="not encrypted"):
        SmtpTransport(server, timeout=5).send(email())
    assert auth.attempts == [] and handler.received == []


def test_a_loopback_relay_without_credentials_may_stay_plaintext(
    plaintext_server: tuple[RecordingHandler, AuthRecorder, int],
) -> None:
    handler, _auth, port = plaintext_server
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), timeout=5)
    transport.send(email())
    transport.close()
    assert len(handler.received) == 1


def test_auth_goes_over_tls(
    tls: tuple[ssl.SSLContext, trustme.CA], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, auth, port = RecordingHandler(), AuthRecorder(), _free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=tls[0], authenticator=auth
    )
    controller.start()
    trusting = ssl.create_default_context()
    tls[1].configure_trust(trusting)
    monkeypatch.setattr(SmtpTransport, "_tls_context", lambda self: trusting)
    try:
        transport = SmtpTransport(
            SmtpServer.from_url(f"smtp://mailer:s3cret@127.0.0.1:{port}"), timeout=5
        )
        transport.send(email())  # no query: credentials alone ask for STARTTLS
        transport.close()
    finally:
        controller.stop()
    assert auth.attempts == [(b"mailer", b"s3cret", True)]
    assert len(handler.received) == 1


@pytest.mark.parametrize(
    ("url", "starttls"),
    [
        ("smtp://mail.example.org", "require"),
        ("smtp://mail.example.org:587", "require"),
        ("smtp://[2001:db8::25]", "require"),
        ("smtp://localhost.example.org", "require"),
        ("smtp://mail.example.org?starttls=auto", "auto"),  # the operator's explicit choice
        ("smtp://mail.example.org?starttls=off", "off"),
        ("smtp://u:p@mail.example.org?starttls=auto", "require"),
        ("smtp://127.0.0.1", "auto"),
        ("smtp://127.0.0.2:2525", "auto"),
        ("smtp://localhost", "auto"),
        ("smtp://[::1]", "auto"),
        ("smtp://u:p@127.0.0.1", "require"),
        ("smtp://u:p@localhost?starttls=auto", "require"),
        ("smtps://u:p@mail.example.org", "off"),  # implicit TLS: already encrypted
    ],
)
def test_tls_is_required_off_loopback_and_with_credentials(url: str, starttls: str) -> None:
    """Decided from the URL alone: nothing is resolved or connected."""
    assert SmtpServer.from_url(url).starttls == starttls
