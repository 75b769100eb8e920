"""The bounce receiver over real SMTP and LMTP connections on loopback."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.bounces.receiver import BounceController
from mailer.extensions import db
from mailer.models import BounceEvent, InboundMessage, SuppressionReason
from tests.bounce_helpers import HARD, bounce, next_digest, sent_digest, suppression
from tests.conftest import SmtpServer, _free_port
from tests.test_sending import send_all, start


@pytest.fixture(params=["lmtp", "smtp"])
def receiver(request: pytest.FixtureRequest, app: Flask) -> Iterator[tuple[str, int]]:
    port = _free_port()
    controller = BounceController(app, "127.0.0.1", port, lmtp=request.param == "lmtp")
    controller.start()
    try:
        yield request.param, port
    finally:
        controller.stop()


def client(receiver: tuple[str, int]) -> smtplib.SMTP:
    protocol, port = receiver
    if protocol == "lmtp":
        return smtplib.LMTP("127.0.0.1", port, timeout=10)
    return smtplib.SMTP("127.0.0.1", port, timeout=10)


def deliver(receiver: tuple[str, int], raw: bytes, rcpt: str) -> None:
    with client(receiver) as conn:
        refused = conn.sendmail("", [rcpt], raw)
        assert refused == {}


def count(app: Flask, model: type[InboundMessage] | type[BounceEvent]) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(model.id))) or 0)


def test_every_format_through_the_receiver_gives_the_right_suppressions(
    app: Flask, receiver: tuple[str, int]
) -> None:
    verps = sent_digest(app, n=8)
    readers = sorted(verps)
    cases = [(name, SuppressionReason.hard_bounce) for name in HARD] + [
        ("arf_complaint.eml", SuppressionReason.complaint),
        ("auto_reply.eml", None),
        ("malformed.eml", None),
        ("postfix_soft.eml", None),  # one soft bounce is under the limit
    ]
    for (name, _), reader in zip(cases, readers, strict=True):
        deliver(receiver, bounce(name, verps[reader], reader), verps[reader])
    for (name, reason), reader in zip(cases, readers, strict=True):
        assert suppression(app, reader) == reason, name
    assert count(app, InboundMessage) == count(app, BounceEvent) == len(cases)


def test_a_forged_token_over_the_wire_is_stored_and_changes_nothing(
    app: Flask, receiver: tuple[str, int]
) -> None:
    verps = sent_digest(app, n=1)
    reader, verp = next(iter(verps.items()))
    forged = verp[: verp.index(".") + 1] + "0123456789ab" + verp[verp.index("@") :]
    deliver(receiver, bounce("postfix_hard.eml", forged, reader), forged)
    with app.app_context():
        event = db.session.scalar(select(BounceEvent))
        assert event is not None and not event.attributed
    assert suppression(app, reader) is None


def test_a_duplicate_bounce_over_the_wire_is_recorded_once(
    app: Flask, receiver: tuple[str, int]
) -> None:
    verps = sent_digest(app, n=1)
    reader, verp = next(iter(verps.items()))
    raw = bounce("microsoft_hard.eml", verp, reader)
    deliver(receiver, raw, verp)
    deliver(receiver, raw, verp)
    assert count(app, InboundMessage) == 2
    assert count(app, BounceEvent) == 1


def test_a_message_over_the_limit_is_refused_with_552_and_logged(
    app: Flask, receiver: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mailer.bounces.receiver")
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (20 * 1024)  # 20 MB
    with client(receiver) as conn:  # SIZE= announced: refused at MAIL FROM
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            conn.sendmail("", ["bounces@example.org"], big)
        assert refused.value.smtp_code == 552
    with client(receiver) as conn:  # no SIZE=: refused after DATA
        conn.ehlo_or_helo_if_needed()
        assert conn.mail("")[0] == 250
        assert conn.rcpt("bounces@example.org")[0] == 250
        code, _ = conn.data(big)
        assert code == 552
    assert count(app, InboundMessage) == 0
    lines = [r.getMessage() for r in caplog.records if "552" in r.getMessage()]
    assert len(lines) == 2 and all("BOUNCE_MAX_BYTES (10485760 bytes)" in line for line in lines)
    assert all("@" not in line for line in lines)


def test_a_digest_sent_after_a_hard_bounce_does_not_go_to_that_address(
    app: Flask, receiver: tuple[str, int], smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    verps = sent_digest(app, n=3)
    assert len(smtp_server.wait_for(3)) == 3
    reader = "reader1@example.org"
    deliver(receiver, bounce("gmail_hard.eml", verps[reader], reader), verps[reader])
    smtp_server.clear()
    digest_id = next_digest(app)
    assert start(app, digest_id) == 2
    assert send_all(app, digest_id).sent == 2
    received = smtp_server.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "reader0@example.org",
        "reader2@example.org",
    ]


def test_serve_refuses_an_impossible_port(app: Flask) -> None:
    """Before, --port 70000 reached the socket layer: an OverflowError traceback."""
    result = app.test_cli_runner().invoke(args=["bounces", "serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "Invalid value for '--port': 70000 is not in the range 1<=x<=65535" in result.output
