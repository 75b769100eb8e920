"""Redis restarted mid-digest (empty, queued tasks gone): the send completes, none lost or doubled.

The test runs its own redis-server, as `mailer dev` does (no persistence), kills it while a
real worker sends, and starts it again on the same port. Then it runs the reaper as beat
would, every half second: the worker must reconnect to the broker, the send-rate limiter
must not fail batches or strand their rows while Redis is away, and the reaper must re-queue
the ranges whose tasks were lost.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import create_app
from mailer.dev.runner import start_redis
from mailer.digests import control, outbox
from mailer.extensions import db
from mailer.models import Digest, DigestStatus
from mailer.tasks import enqueue_batches, reap_deliveries
from tests.conftest import SmtpServer, _free_port, base_config, dispose, reset_database
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import seed
from tests.integration.test_send_rate import _new_digest

TOTAL = 400
RATE = 100  # messages a second: the send takes about 4 s
BATCH = 60  # 7 batches; 2 run at once, the rest wait in Redis and are lost with it
OUTAGE = 1.5  # seconds without Redis


class Redis:
    """A redis-server of this test's own, which it can kill and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.workdir, self.port, quiet=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def restartable(
    database_url: str,
    smtp_server: SmtpServer,
    celery_worker: Worker,
    tmp_path: Path,
) -> Iterator[tuple[Flask, Redis, Worker]]:
    redis = Redis(tmp_path)
    redis.start()
    smtp_server.clear()
    settings = {"SEND_RATE": float(RATE), "DELIVERY_BATCH_SIZE": BATCH}
    app = create_app({**base_config(database_url, redis.url, smtp_server.url), **settings})
    reset_database(app)
    env = dict(celery_worker.env, REDIS_URL=redis.url, **{k: str(v) for k, v in settings.items()})
    worker = Worker(env, tmp_path / "worker.log")
    try:
        yield app, redis, worker
    finally:
        worker.stop()
        redis.kill()
        smtp_server.clear()
        dispose(app)


def test_a_redis_restart_mid_send_loses_no_one_and_doubles_no_one(
    restartable: tuple[Flask, Redis, Worker], smtp_server: SmtpServer
) -> None:
    app, redis, worker = restartable
    seed(app, TOTAL)
    worker.start()
    with app.app_context():
        assert outbox.start(_new_digest()) == TOTAL
        db.session.commit()
        digest_id = db.session.scalar(select(Digest.id))
        assert digest_id is not None
        assert enqueue_batches(digest_id) == 7
    smtp_server.wait_for(TOTAL // 4)
    redis.kill()
    time.sleep(OUTAGE)
    with app.app_context():
        during = control.progress(digest_id)
    assert during.remaining > TOTAL // 2, "the send was nearly over when Redis went"
    redis.start()  # empty: the queued batches are gone

    # Generous: the worker's broker reconnects back off (about 2, 6, 12 s) on a slow machine.
    deadline = time.monotonic() + 90
    with app.app_context():
        while _status(digest_id) != DigestStatus.sent:
            assert time.monotonic() < deadline, (
                f"{control.progress(digest_id)}\n{worker.output()[-3000:]}"
            )
            reap_deliveries()  # beat's job, every minute in production
            time.sleep(0.5)
        p = control.progress(digest_id)
    assert (p.sent, p.failed, p.total) == (TOTAL, 0, TOTAL)
    time.sleep(0.3)  # anything extra would have arrived by now
    counts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert set(counts) == {f"reader{i}@example.org" for i in range(TOTAL)}  # nobody lost
    assert max(counts.values()) == 1  # no connection died: nobody doubled
    assert worker.proc is not None and worker.proc.poll() is None


def _status(digest_id: int) -> DigestStatus | None:
    db.session.rollback()  # a fresh read each time
    return db.session.scalar(select(Digest.status).where(Digest.id == digest_id))
