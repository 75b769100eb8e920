"""A send that goes wrong stops itself: a real worker sends a digest at a real rate while the
real bounce receiver (LMTP, in this process) takes a hard bounce for every fourth reader.

The digest pauses itself with its reason, the editors' mail reaches the SMTP server, and the
readers after the pause get nothing (counted within bounds, never timed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from mailer import create_app
from mailer.admin.auth import create_editor
from mailer.bounces.receiver import BounceController
from mailer.digests import control
from mailer.extensions import db
from mailer.models import BounceEvent, Digest, DigestStatus, MailingList
from tests.bounce_helpers import bounce
from tests.conftest import (
    SmtpServer,
    _free_port,
    base_config,
    clear_redis,
    dispose,
    redis_db,
    reset_database,
)
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import seed
from tests.integration.test_send_faults import send
from tests.test_bounce_receiver import deliver

TOTAL = 400
RATE = 40  # messages a second: the whole send would take ten seconds
EDITORS = ("desk@newsroom.test", "night@newsroom.test")
MIN_SENT = 40  # the list's minimum sample; its bounce limit stays the default 5 %


@pytest.fixture
def sender(
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    celery_worker: Worker,
    tmp_path: Path,
) -> Iterator[tuple[Flask, Worker]]:
    """The app and a worker of its own (SEND_RATE 40, batches of 60) on a Redis db of its own."""
    redis_url = redis_db(redis_base_url, 9)
    clear_redis(redis_url)
    smtp_server.clear()
    settings = {"SEND_RATE": float(RATE), "DELIVERY_BATCH_SIZE": 60}
    app = create_app({**base_config(database_url, redis_url, smtp_server.url), **settings})
    reset_database(app)
    env = dict(celery_worker.env, REDIS_URL=redis_url, **{k: str(v) for k, v in settings.items()})
    worker = Worker(env, tmp_path / "worker.log")
    try:
        yield app, worker
    finally:
        worker.stop()
        smtp_server.clear()
        dispose(app)


class Bouncer(threading.Thread):
    """Watches the SMTP server and answers every fourth reader's message with a DSN, sent
    to its VERP envelope sender over LMTP to the real bounce receiver, as an MTA would."""

    def __init__(self, smtp_server: SmtpServer, port: int) -> None:
        super().__init__(daemon=True)
        self.smtp_server, self.port = smtp_server, port
        self.stopped, self.sent, self.errors = threading.Event(), 0, []  # type: list[str]

    def run(self) -> None:
        seen = 0
        while not self.stopped.is_set():
            received = self.smtp_server.received
            for message in received[seen:]:
                rcpt = message.rcpt_tos[0]
                if not rcpt.startswith("reader") or int(rcpt[6:].split("@")[0]) % 4:
                    continue
                try:
                    raw = bounce("postfix_hard.eml", message.mail_from, rcpt, msgid=rcpt)
                    deliver(("lmtp", self.port), raw, message.mail_from)
                    self.sent += 1
                except Exception as exc:  # noqa: BLE001 (reported by the test)
                    self.errors.append(repr(exc))
            seen = len(received)
            time.sleep(0.05)


def readers(smtp_server: SmtpServer) -> list[str]:
    return [r.rcpt_tos[0] for r in smtp_server.received if r.rcpt_tos[0].startswith("reader")]


def test_hard_bounces_fed_through_the_receiver_pause_the_send_and_mail_the_editors(
    sender: tuple[Flask, Worker], smtp_server: SmtpServer
) -> None:
    app, worker = sender
    seed(app, TOTAL)
    with app.app_context():
        db.session.execute(
            update(MailingList).where(MailingList.slug == "weekly").values(pause_min_sent=MIN_SENT)
        )
        for address in EDITORS:
            create_editor(address, "correct horse battery staple")
        db.session.commit()
    port = _free_port()
    receiver = BounceController(app, "127.0.0.1", port, lmtp=True)
    receiver.start()
    bouncer = Bouncer(smtp_server, port)
    bouncer.start()
    try:
        worker.start()
        digest_id = send(app, TOTAL)
        deadline = time.monotonic() + 90
        with app.app_context():
            while db.session.scalar(select(Digest.status)) != DigestStatus.paused:
                assert time.monotonic() < deadline, (
                    f"not paused: {control.progress(digest_id)}, {bouncer.sent} bounces,"
                    f" {bouncer.errors[:3]}\n{worker.output()[-3000:]}"
                )
                db.session.rollback()
                time.sleep(0.1)
        # The editors' mail, from the worker, through the same SMTP server.
        deadline = time.monotonic() + 60
        while {a for r in smtp_server.received for a in r.rcpt_tos} < set(EDITORS):
            assert time.monotonic() < deadline, worker.output()[-3000:]
            time.sleep(0.1)
        # Sending stops: wait until the server has been quiet a while.
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 2:
            if (n := len(readers(smtp_server))) != seen:
                seen, quiet_since = n, time.monotonic()
            time.sleep(0.1)
    finally:
        bouncer.stopped.set()
        bouncer.join(10)
        receiver.stop()
    assert bouncer.errors == []

    sent = readers(smtp_server)
    assert len(sent) == len(set(sent))  # nobody twice
    assert MIN_SENT <= len(sent) < TOTAL, len(sent)  # the sample was out; not everyone got it
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.status == DigestStatus.paused
        assert digest.pause_reason is not None
        assert digest.pause_reason.startswith("Paused automatically: ")
        assert "hard bounces among" in digest.pause_reason
        assert "over this list's limit of 5 %" in digest.pause_reason
        p = control.progress(digest_id)
        assert p.sent == len(sent) and p.pending == TOTAL - len(sent) and p.sending == 0
        recorded = db.session.scalar(select(func.count(BounceEvent.id)))
        assert recorded and recorded >= 3  # 5 % of the 40-message sample is 2

    notices = [r for r in smtp_server.received if r.rcpt_tos[0] in EDITORS]
    assert sorted(r.rcpt_tos[0] for r in notices) == sorted(EDITORS)  # each editor, once
    for notice in notices:
        assert notice.message["Subject"].startswith("Sending paused: ")
        assert b"reader" not in notice.raw  # no subscriber's address
        body = notice.message.get_body(("plain",))
        assert body is not None and digest.pause_reason in body.get_content()
