"""A worker killed mid-digest: the reaper hands its rows to another; nobody is lost or doubled."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from mailer import create_app
from mailer.digests import sending
from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, Digest, DigestStatus, utcnow
from mailer.tasks import enqueue_batches, reap_deliveries
from tests.conftest import SmtpServer, base_config, clear_redis, dispose, redis_db, reset_database
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import seed
from tests.integration.test_send_rate import _new_digest

TOTAL = 40


def descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


@pytest.fixture
def crashable(
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    celery_worker: Worker,
    tmp_path: Path,
) -> Iterator[tuple[Flask, dict[str, str]]]:
    redis_url = redis_db(redis_base_url, 5)
    clear_redis(redis_url)
    smtp_server.clear()
    # Slow enough (20 messages a second) that the kill lands mid-batch.
    config = {**base_config(database_url, redis_url, smtp_server.url), "SEND_RATE": 20.0}
    app = create_app(config)
    reset_database(app)
    env = dict(celery_worker.env, REDIS_URL=redis_url, SEND_RATE="20")
    yield app, env
    smtp_server.clear()
    dispose(app)


def test_a_killed_worker_loses_no_one_and_repeats_at_most_the_message_in_flight(
    crashable: tuple[Flask, dict[str, str]], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    app, env = crashable
    seed(app, TOTAL)
    first = Worker(env, tmp_path / "first.log")
    first.start()
    with app.app_context():
        assert sending.start(_new_digest()) == TOTAL
        db.session.commit()
        digest_id = db.session.scalar(select(Digest.id))
        assert digest_id is not None
        enqueue_batches(digest_id)
    smtp_server.wait_for(10)
    assert first.proc is not None
    for pid in descendants(first.proc.pid):
        os.kill(pid, signal.SIGKILL)
    first.proc.wait(10)
    got = len(smtp_server.received)
    assert got < TOTAL, "the worker finished before it was killed"

    with app.app_context():
        # Five minutes pass: the dead worker's lease runs out.
        db.session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.sending)
            .values(lease_expires_at=utcnow())
        )
        db.session.commit()
        clear_redis(env["REDIS_URL"])  # the lost task's message, as after a Redis restart
        assert reap_deliveries() == 1
    second = Worker(env, tmp_path / "second.log")
    second.start()
    try:
        received = smtp_server.wait_for(TOTAL, timeout=30)
        deadline = time.monotonic() + 15
        with app.app_context():
            while db.session.scalar(select(Digest.status)) != DigestStatus.sent:
                assert time.monotonic() < deadline, second.output()[-2000:]
                db.session.rollback()
                time.sleep(0.2)
        time.sleep(0.3)
        received = smtp_server.received
    finally:
        second.stop()
    counts = Counter(r.rcpt_tos[0] for r in received)
    assert set(counts) == {f"reader{i}@example.org" for i in range(TOTAL)}  # nobody lost
    assert sum(n - 1 for n in counts.values()) <= 1  # at most the one message in flight
