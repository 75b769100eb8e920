"""A 4xx costs a reader time, never a count: the retry budget, on an injected clock, and
which refusals hold the server rather than the reader."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import clock
from mailer.backoff import ServerBackoff
from mailer.delivery.message import Email
from mailer.delivery.smtp import close_all
from mailer.delivery.smtp_pool import SmtpUnavailable
from mailer.digests import retry
from mailer.extensions import db
from mailer.models import Delivery, DigestStatus, utcnow
from tests.conftest import SmtpServer
from tests.test_sending import (
    add_subscribers,
    digest_status,
    due_now,
    make_digest,
    send_all,
    start,
    statuses,
)
from tests.test_smtp_pool import Sink


def at(app: Flask, when: datetime) -> None:
    app.extensions[clock.EXTENSION] = lambda: when


def deliveries(app: Flask) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        return list(rows)


def test_a_4xx_within_the_budget_never_fails_the_reader_however_many_tries(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 1)
    digest_id = make_digest(app)
    start(app, digest_id)
    smtp_server.handler.reply = lambda envelope: "451 4.3.0 Try again later"
    t0 = utcnow()
    for minutes in range(0, 24 * 60, 60):  # every hour for 23 hours, then at 23:59
        at(app, t0 + timedelta(minutes=minutes))
        send_all(app, digest_id)
        due_now(app)
    at(app, t0 + timedelta(hours=23, minutes=59))
    send_all(app, digest_id)
    assert statuses(app, digest_id) == {"pending": 1}
    (delivery,) = deliveries(app)
    assert delivery.attempts == 25 and delivery.smtp_code == 451
    smtp_server.handler.reply = None
    due_now(app)
    assert send_all(app, digest_id).sent == 1
    assert statuses(app, digest_id) == {"sent": 1}


def test_a_4xx_past_the_budget_fails_the_reader_and_those_held_with_them(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    app.config["DELIVERY_RETRY_BUDGET"] = 3600.0
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)
    smtp_server.handler.reply = lambda envelope: "421 4.7.0 Too busy"
    t0 = utcnow()
    at(app, t0)
    send_all(app, digest_id)
    assert [d.attempts for d in deliveries(app)] == [1, 0, 0]  # one tried, two held back
    assert all(d.deferred_since == t0 for d in deliveries(app))
    due_now(app)
    at(app, t0 + timedelta(minutes=59))
    send_all(app, digest_id)
    assert statuses(app, digest_id) == {"pending": 3}
    due_now(app)
    at(app, t0 + timedelta(minutes=61))
    send_all(app, digest_id)
    assert statuses(app, digest_id) == {"failed": 3}
    tried, *held = deliveries(app)
    assert tried.smtp_code == 421 and tried.attempts == 3
    assert all(d.error == retry.OVER_BUDGET and d.attempts == 0 for d in held)
    assert digest_status(app, digest_id) == DigestStatus.sent
    assert smtp_server.received == []


def test_a_5xx_still_fails_at_once(app: Flask, smtp_server: SmtpServer) -> None:
    smtp_server.clear()
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    smtp_server.handler.reply = lambda envelope: (
        "550 5.1.1 No such user" if envelope.rcpt_tos[0] == "reader0@example.org" else None  # type: ignore[attr-defined]
    )
    result = send_all(app, digest_id)
    assert (result.sent, result.failed, result.deferred) == (1, 1, 0)


class RefusingTransport:
    """Refuses RCPT for the recipients `refuse` names, with the reply it gives."""

    def __init__(self, refuse: Callable[[str], tuple[int, bytes] | None]) -> None:
        self.refuse, self.sent, self.tried = refuse, list[str](), 0

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: Callable[[str], None] | None = None,
        then: tuple[str, str] | None = None,
    ) -> None:
        if before is not None:
            before("fake:25")
        self.tried += 1
        reply = self.refuse(to)
        if reply is not None:
            raise smtplib.SMTPRecipientsRefused({to: reply})
        self.sent.append(to)

    def send(self, email: Email) -> None:
        self.send_raw(email.envelope_sender, email.to, email.as_bytes())

    def close(self) -> None:
        pass


def test_a_full_mailbox_defers_that_reader_alone(app: Flask) -> None:
    full = (452, b"4.2.2 Mailbox full")
    transport = RefusingTransport(lambda to: full if to == "reader1@example.org" else None)
    app.extensions["mail_transport"] = transport
    add_subscribers(app, 4)
    digest_id = make_digest(app)
    start(app, digest_id)
    result = send_all(app, digest_id)
    assert (result.sent, result.deferred, result.failed) == (3, 1, 0)
    with app.app_context():
        assert ServerBackoff(app.extensions["redis"], 1.0).held(["fake:25"]) == {}


def test_every_recipient_refused_about_themselves_holds_the_server_after_a_few(
    app: Flask,
) -> None:
    transport = RefusingTransport(lambda to: (450, b"4.2.1 Mailbox unavailable"))
    app.extensions["mail_transport"] = transport
    add_subscribers(app, 20)
    digest_id = make_digest(app)
    start(app, digest_id)
    result = send_all(app, digest_id)
    assert transport.tried == retry.STREAK
    assert (result.sent, result.deferred, result.failed) == (0, 20, 0)
    with app.app_context():
        assert "fake:25" in ServerBackoff(app.extensions["redis"], 1.0).held(["fake:25"])


@pytest.mark.parametrize(
    ("exc", "mine"),
    [
        (smtplib.SMTPRecipientsRefused({"a": (452, b"4.2.2 Mailbox full")}), True),
        (smtplib.SMTPRecipientsRefused({"a": (450, b"4.2.1 Mailbox unavailable")}), True),
        (smtplib.SMTPRecipientsRefused({"a": (450, b"Mailbox busy")}), True),
        (smtplib.SMTPRecipientsRefused({"a": (451, b"4.7.1 Greylisted, come back")}), False),
        (smtplib.SMTPRecipientsRefused({"a": (452, b"4.5.3 Too many recipients")}), False),
        (smtplib.SMTPRecipientsRefused({"a": (452, b"Insufficient storage")}), False),
        (smtplib.SMTPRecipientsRefused({"a": (421, b"4.2.1 Closing")}), False),
        (smtplib.SMTPDataError(451, b"4.3.0 Try later"), False),
        (smtplib.SMTPSenderRefused(451, b"4.2.2 Full", "s"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(), False),
    ],
)
def test_only_a_refused_rcpt_about_the_mailbox_is_the_readers_own(
    exc: BaseException, mine: bool
) -> None:
    assert retry.about_recipient(exc) is mine


def test_the_server_back_off_doubles_per_trip_and_many_trips_in_a_hold_count_once(
    app: Flask,
) -> None:
    with app.app_context():
        backoff = ServerBackoff(app.extensions["redis"], 0.2, jitter=lambda: 1.0)
        first = backoff.trip("s:25")
        assert 0.1 < first <= 0.2
        assert backoff.trip("s:25") <= first  # already on hold: same hold, not longer
        assert set(backoff.held(["s:25", "t:25"])) == {"s:25"}
        deadline = utcnow() + timedelta(seconds=10)
        while backoff.held(["s:25"]):
            assert utcnow() < deadline
            time.sleep(0.02)
        assert 0.3 < backoff.trip("s:25") <= 0.4  # the next storm's hold is twice as long


def test_with_two_servers_the_one_on_hold_is_left_out_and_the_other_sends(app: Flask) -> None:
    stormy, calm = Sink(), Sink()
    stormy.handler.reply = lambda envelope: "451 4.3.0 Try later"
    app.config["SMTP_URL"] = f"{stormy.url()},{calm.url()}"
    try:
        add_subscribers(app, 20)
        digest_id = make_digest(app)
        start(app, digest_id)
        result = send_all(app, digest_id)
        assert (result.sent, result.deferred, result.failed) == (19, 1, 0)
        assert len(calm.handler.received) == 19
        with app.app_context():
            backoff = ServerBackoff(app.extensions["redis"], 1.0)
            assert set(backoff.held([stormy.key, calm.key])) == {stormy.key}
        stormy.handler.reply = None
        due_now(app)
        assert send_all(app, digest_id).sent == 1
        assert statuses(app, digest_id) == {"sent": 20}
    finally:
        close_all()
        stormy.stop()
        calm.stop()


class FailingSessionTransport(RefusingTransport):
    """Every session fails before any recipient: the answer is about us, not the readers."""

    def __init__(self, exc: smtplib.SMTPException) -> None:
        super().__init__(lambda to: None)
        self.exc = exc

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: Callable[[str], None] | None = None,
        then: tuple[str, str] | None = None,
    ) -> None:
        if before is not None:
            before("fake:25")
        self.tried += 1
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
        smtplib.SMTPSenderRefused(553, b"5.7.1 Sender address rejected", "bounce@example.org"),
        smtplib.SMTPConnectError(554, b"5.7.1 No service for you"),
    ],
)
def test_a_5xx_about_the_session_holds_the_server_and_fails_nobody(
    app: Flask, exc: smtplib.SMTPException
) -> None:
    # A wrong SMTP password or a refused envelope sender is the operator's to fix: failing
    # every reader of the digest for it would lose them all for good.
    transport = FailingSessionTransport(exc)
    app.extensions["mail_transport"] = transport
    add_subscribers(app, 10)
    digest_id = make_digest(app)
    start(app, digest_id)
    result = send_all(app, digest_id)
    assert transport.tried == 1
    assert (result.sent, result.failed, result.deferred) == (0, 0, 10)
    with app.app_context():
        assert "fake:25" in ServerBackoff(app.extensions["redis"], 1.0).held(["fake:25"])


def test_a_failure_before_any_server_was_picked_puts_no_server_on_hold(app: Flask) -> None:
    # The first message went to fake:25; the second failed before a server was chosen (every
    # server of a pool cooling down): fake:25 did nothing wrong and must not be held.
    class NoServerLeft(RefusingTransport):
        def send_raw(
            self,
            envelope_from: str,
            to: str,
            data: bytes,
            before: Callable[[str], None] | None = None,
            then: tuple[str, str] | None = None,
        ) -> None:
            self.tried += 1
            if self.tried > 1:
                raise SmtpUnavailable("every SMTP server is down")
            super().send_raw(envelope_from, to, data, before, then)

    app.extensions["mail_transport"] = NoServerLeft(lambda to: None)
    add_subscribers(app, 3)
    digest_id = make_digest(app)
    start(app, digest_id)
    result = send_all(app, digest_id)
    assert result.sent == 1 and result.failed == 0
    with app.app_context():
        assert ServerBackoff(app.extensions["redis"], 1.0).held(["fake:25"]) == {}
