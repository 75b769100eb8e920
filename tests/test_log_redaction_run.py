"""No log line of a whole run holds the reader's address (audit M5), property-tested.

Hypothesis generates addresses in Cyrillic, Arabic and Persian script, with IDN domains in
Unicode or punycode, and quoted local parts; the audit's examples run every time. For each,
a run through the real parts: the sign-up form, the confirmation task (refused once by the
SMTP server with a reply echoing the address, then sent) through Celery's own tracer, the
link followed, a digest batch task whose recipient the server refuses, a hard bounce
naming the address handed to the bounce receiver, and erase. Every record of every logger
(Celery's included) is captured at DEBUG and checked as a handler would write it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings

from mailer import tasks
from mailer.digests import outbox
from mailer.extensions import db
from mailer.privacy import InvalidAddress, normalise_email
from mailer.verp import verp_address
from tests import full_life as life
from tests.address_strategies import addresses, leaks
from tests.conftest import clear_redis, reset_database


@pytest.fixture
def mailbox() -> Iterator[tuple[life.Mailbox, str]]:
    with life.mail_server() as server:
        yield server


@pytest.fixture
def config_overrides(mailbox: tuple[life.Mailbox, str]) -> dict[str, Any]:
    return life.config(mailbox[1])


class Capture:
    """Every log record created while it is on, from any logger, at any level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __enter__(self) -> Capture:
        self.factory = logging.getLogRecordFactory()
        self.level = logging.root.level
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

        def capture(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = self.factory(*args, **kwargs)
            line = formatter.format(record)  # message, traceback and stack, as a handler does
            self.lines.append(line)
            return record

        logging.setLogRecordFactory(capture)
        logging.root.setLevel(logging.DEBUG)
        # Every logger, even one an earlier logging.config call disabled.
        loggers = logging.root.manager.loggerDict.values()
        self.disabled = [lg for lg in loggers if isinstance(lg, logging.Logger) and lg.disabled]
        for logger in self.disabled:
            logger.disabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        logging.setLogRecordFactory(self.factory)
        logging.root.setLevel(self.level)
        for logger in self.disabled:
            logger.disabled = True


def run_life(app: Flask, client: FlaskClient, server: life.Mailbox, typed: str) -> bool:
    """Sign-up, refused and sent confirmation, confirm, refused digest, hard bounce, erase.

    False when the form refused the address (its answer is then all the run there is).
    """
    status = life.sign_up(client, typed, "A reader")
    try:
        address = normalise_email(typed)
    except InvalidAddress:
        assert status == 422  # refused, with the form again
        return False
    assert status in (302, 303)
    subscriber_id = life.subscriber_id(app)
    server.refused.add(address)
    with app.app_context():  # through Celery's tracer, which logs a task's outcome
        tasks.send_confirmation.apply(args=(subscriber_id,))  # 550: given up, logged
    server.refused.clear()
    life.confirm(app, client, server, address)
    server.refused.add(address)
    digest_id = life.new_digest(app)
    with app.app_context():
        tasks.start_digest.apply(args=(digest_id,))
        for lo, hi in outbox.batch_ranges(digest_id, 100):
            tasks.send_digest_batch.apply(args=(digest_id, lo, hi))
    delivery_id = life.delivery_of(app, digest_id)
    with life.bounce_receiver(app) as port:
        with app.app_context():
            verp = verp_address(delivery_id)
        raw = life.bounce_of(app, "postfix_hard.eml", delivery_id, address, "hard-1")
        life.to_receiver(port, raw, verp)
    life.erase(app)
    return True


AUDIT = [
    "user@пример.рф",
    "user@bücher.de",
    "علی@مثال.ایران",
    '"john doe"@example.org',
    "x@xn--e1afmkfd.xn--p1ai",
    "Журналист@Пример.РФ",
    "کاربر.تست@نمونه.ایران",
]


def _with_audit_examples(test: Any) -> Any:
    for address in AUDIT:
        test = example(typed=address)(test)
    return test


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(typed=addresses())
@_with_audit_examples
def test_no_log_line_of_a_whole_run_holds_the_address(
    app: Flask, client: FlaskClient, mailbox: tuple[life.Mailbox, str], typed: str
) -> None:
    server, _ = mailbox
    reset_database(app)
    clear_redis(app.config["REDIS_URL"])
    with app.app_context():
        db.session.remove()
    server.received.clear()
    server.refused.clear()
    with Capture() as captured:
        complete = run_life(app, client, server, typed)
    if complete:  # the refusals were logged, so the check below can find something
        text = "\n".join(captured.lines)
        assert "failed: SMTPRecipientsRefused 550 5.1.1" in text
        assert "failed (550)" in text and "hard 5.1.1" in text
        assert "celery.app.trace" in text  # Celery's own lines are among those checked
    found = [line for line in captured.lines if leaks(line, typed) or _normalised_in(line, typed)]
    assert found == []


def _normalised_in(line: str, typed: str) -> list[str]:
    try:
        return leaks(line, normalise_email(typed))
    except InvalidAddress:
        return []
