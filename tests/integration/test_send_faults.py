"""A real worker at a real send rate: pause, resume and cancel mid-send; an SMTP server in trouble.

Each test starts a worker of its own (SEND_RATE 40, DELIVERY_RETRY_BASE 0.5 s) on a Redis
database of its own, so retries a test leaves scheduled cannot reach the next one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import create_app
from mailer.digests import control, outbox
from mailer.extensions import db
from mailer.models import Delivery, Digest, DigestStatus
from mailer.tasks import enqueue_batches
from tests.conftest import SmtpServer, base_config, clear_redis, dispose, redis_db, reset_database
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import seed
from tests.integration.test_send_rate import _new_digest

TOTAL = 200
# 40 messages a second shared by the worker's two processes: each sends about 20 a second,
# so a batch checks the digest's status (every sending.CHECK_EVERY messages) less often
# than once a second unless it also checks by the clock.
RATE = 40
BATCH = 60
RETRY_BASE = 0.5  # seconds: the first retry comes 0.25 to 0.5 s after a 4xx


@pytest.fixture
def faulty(
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    celery_worker: Worker,
    tmp_path: Path,
) -> Iterator[tuple[Flask, Worker]]:
    redis_url = redis_db(redis_base_url, 7)
    clear_redis(redis_url)
    smtp_server.clear()
    settings = {"SEND_RATE": float(RATE), "DELIVERY_BATCH_SIZE": BATCH}
    settings["DELIVERY_RETRY_BASE"] = RETRY_BASE
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


def send(app: Flask, total: int) -> int:
    """Start a digest to `total` subscribers and queue its batches; its id."""
    with app.app_context():
        assert outbox.start(_new_digest()) == total
        db.session.commit()
        digest_id = db.session.scalar(select(Digest.id))
        assert digest_id is not None
        enqueue_batches(digest_id)
        return digest_id


def run_control(app: Flask, digest_id: int, action: str) -> float:
    """`mailer digest <action> <id>`, as an editor would; when it was done (time.time())."""
    result = app.test_cli_runner().invoke(args=["digest", action, str(digest_id)])
    assert result.exit_code == 0, result.output
    return time.time()


def settled(app: Flask, digest_id: int, timeout: float = 30) -> control.Progress:
    """The digest's progress once no batch holds a row any more."""
    deadline = time.monotonic() + timeout
    with app.app_context():
        while (p := control.progress(digest_id)).sending:
            assert time.monotonic() < deadline, p
            db.session.rollback()
            time.sleep(0.1)
        return p


def wait_until_sent(app: Flask, digest_id: int, worker: Worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while db.session.scalar(select(Digest.status)) != DigestStatus.sent:
            assert time.monotonic() < deadline, (
                f"{control.progress(digest_id)}\n{worker.output()[-3000:]}"
            )
            db.session.rollback()
            time.sleep(0.1)


def assert_stopped_within_a_second(smtp_server: SmtpServer, since: float, total: int) -> int:
    """At most a second's worth of messages at SEND_RATE came after `since`; how many came.

    Counted, not timed: a busy machine can delay the workers' next look at the digest, but it
    cannot make them send more than the rate allows before it (a look every CHECK_SECONDS).
    """
    deadline, seen, quiet_since = time.monotonic() + 20, -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.5:  # wait until the server has been quiet a while
        assert time.monotonic() < deadline, "sending did not stop"
        if (n := len(smtp_server.received)) != seen:
            seen, quiet_since = n, time.monotonic()
        time.sleep(0.1)
    received = smtp_server.received
    late = [r for r in received if r.at > since]
    assert len(late) <= RATE, f"{len(late)} messages came after the command returned"
    assert 0 < len(received) < total, "the send was not stopped midway"
    return len(received)


def test_pause_stops_new_messages_within_a_second_and_resume_sends_the_rest(
    faulty: tuple[Flask, Worker], smtp_server: SmtpServer
) -> None:
    app, worker = faulty
    seed(app, TOTAL)
    worker.start()
    digest_id = send(app, TOTAL)
    smtp_server.wait_for(TOTAL // 5)
    paused_at = run_control(app, digest_id, "pause")
    before = assert_stopped_within_a_second(smtp_server, paused_at, TOTAL)
    p = settled(app, digest_id)
    assert (p.sent, p.pending, p.failed) == (before, TOTAL - before, 0)  # all given back

    run_control(app, digest_id, "resume")
    wait_until_sent(app, digest_id, worker)
    time.sleep(0.3)  # anything extra would have arrived by now
    counts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert counts == Counter({f"reader{i}@example.org": 1 for i in range(TOTAL)})
    assert settled(app, digest_id).sent == TOTAL


def test_cancel_stops_new_messages_within_a_second_and_skips_the_rest(
    faulty: tuple[Flask, Worker], smtp_server: SmtpServer
) -> None:
    app, worker = faulty
    seed(app, TOTAL)
    worker.start()
    digest_id = send(app, TOTAL)
    smtp_server.wait_for(TOTAL // 5)
    cancelled_at = run_control(app, digest_id, "cancel")
    before = assert_stopped_within_a_second(smtp_server, cancelled_at, TOTAL)
    p = settled(app, digest_id)
    assert (p.sent, p.skipped, p.failed, p.pending) == (before, TOTAL - before, 0, 0)
    with app.app_context():
        assert db.session.scalar(select(Digest.status)) == DigestStatus.cancelled
    counts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert max(counts.values()) == 1


def test_a_4xx_storm_of_many_times_the_retry_base_costs_nobody(
    faulty: tuple[Flask, Worker], smtp_server: SmtpServer
) -> None:
    """The server refuses everything for STORM seconds (20 times DELIVERY_RETRY_BASE), then
    recovers: everyone gets the digest once, nobody fails, and the server, not each reader,
    took the refusals: a few probes per hold, not an attempt per reader per back-off."""
    app, worker = faulty
    total, storm = 200, 20 * RETRY_BASE
    seed(app, total)
    worker.start()
    refused: list[str] = []
    began: list[float] = []

    def stormy(envelope: object) -> str | None:
        rcpt = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        began.append(began[0] if began else time.monotonic())
        if time.monotonic() - began[0] > storm:
            return None
        refused.append(rcpt)
        odd = int(rcpt.removeprefix("reader").split("@")[0]) % 2
        return "421 4.7.0 Too many connections, try later" if odd else "451 4.3.0 Try later"

    smtp_server.handler.reply = stormy
    digest_id = send(app, total)
    wait_until_sent(app, digest_id, worker, timeout=120)
    time.sleep(0.3)  # anything extra would have arrived by now
    counts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert counts == Counter({f"reader{i}@example.org": 1 for i in range(total)})
    p = settled(app, digest_id)
    assert (p.sent, p.failed) == (total, 0)
    # Each refusal charged its reader one attempt and nobody else anything. Before the
    # server back-off every reader was refused at least once (200 refusals, most readers
    # failed after six); now a few batches probe at the end of each hold.
    assert 0 < len(refused) <= 40, len(refused)
    with app.app_context():
        attempts = list(db.session.scalars(select(Delivery.attempts)))
    assert sum(attempts) == total + len(refused)
    assert max(attempts) <= 12
