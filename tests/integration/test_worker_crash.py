"""A worker killed mid-digest: the reaper hands its rows to another; nobody is lost or doubled.

2,000 recipients at SEND_RATE 400: the aiosmtpd sink in this process takes about 1,000
messages a second from one worker (measured), so the rate, not the sink, paces the send and
the kill lands about halfway, with both of the worker's processes in the middle of a batch.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from mailer import create_app
from mailer.digests import control, outbox
from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, Digest, DigestStatus, utcnow
from mailer.tasks import enqueue_batches, reap_deliveries
from tests.conftest import SmtpServer, base_config, clear_redis, dispose, redis_db, reset_database
from tests.integration.conftest import Worker
from tests.integration.test_digest_flow import seed
from tests.integration.test_send_rate import _new_digest

TOTAL = 2000
RATE = 400  # messages a second: the send takes about 5 s, the sink keeps up with it
BATCH = 700  # batches of 700, 700 and 600: at the kill both processes are mid-batch
CONCURRENCY = 2  # worker processes, so SMTP connections, of the killed worker (Worker)


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


def kill_and_wait(pids: list[int]) -> None:
    """SIGKILL each process and return once every one is gone (or a zombie)."""
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.005)


def quiet_count(smtp_server: SmtpServer, still: float = 1.0, timeout: float = 15) -> int:
    """How many messages the sink holds once none has come for `still` seconds."""
    deadline, seen, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() - quiet_since < still:
        assert time.monotonic() < deadline, "messages kept coming"
        if (n := len(smtp_server.received)) != seen:
            seen, quiet_since = n, time.monotonic()
        time.sleep(0.05)
    return seen


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
    settings = {"SEND_RATE": float(RATE), "DELIVERY_BATCH_SIZE": BATCH}
    app = create_app({**base_config(database_url, redis_url, smtp_server.url), **settings})
    reset_database(app)
    env = dict(celery_worker.env, REDIS_URL=redis_url, **{k: str(v) for k, v in settings.items()})
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
    assert first.proc is not None
    killed = threading.Event()

    def kill_at_halfway(envelope: object) -> None:
        # In the sink, before it answers 250 to the message that makes half: the worker
        # dies with that message accepted and not recorded, the window the product contract allows.
        if not killed.is_set() and len(smtp_server.received) >= TOTAL // 2:
            assert first.proc is not None
            kill_and_wait(descendants(first.proc.pid))
            killed.set()

    smtp_server.handler.reply = kill_at_halfway
    try:
        with app.app_context():
            assert outbox.start(_new_digest()) == TOTAL
            db.session.commit()
            digest_id = db.session.scalar(select(Digest.id))
            assert digest_id is not None
            assert enqueue_batches(digest_id) == 3
        assert killed.wait(60), "the worker was not killed"
        first.proc.wait(10)
    finally:
        smtp_server.handler.reply = None
        first.stop()
    got = quiet_count(smtp_server)  # what the dead worker wrote before it died reaches the sink
    assert got < TOTAL * 3 // 4, "the worker was not killed about halfway"

    with app.app_context():
        p = control.progress(digest_id)
        assert p.sending > 0, "the kill landed between batches"
        # Accepted by the server, not recorded: at most the one message in flight on each
        # connection, and at least the one the sink accepted as the worker died.
        unrecorded = got - p.sent
        assert 1 <= unrecorded <= CONCURRENCY, (got, p)
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
        received = smtp_server.wait_for(TOTAL + unrecorded, timeout=60)
        deadline = time.monotonic() + 60
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
    # Exactly the messages accepted but not recorded came twice: at most one per connection.
    assert max(counts.values()) <= 2
    assert sum(n - 1 for n in counts.values()) == unrecorded <= CONCURRENCY
    with app.app_context():
        p = control.progress(digest_id)
        assert (p.sent, p.total) == (TOTAL, TOTAL)


def test_a_killed_workers_readers_move_on_by_themselves(
    crashable: tuple[Flask, dict[str, str]], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """As an operator meets it: kill -9 of the worker mid-send, a new worker started, beat
    running (here inside the new worker, -B). Nothing is touched by hand: the dead worker's
    lease lapses (nobody renews it) and the reaper hands its rows to the new worker."""
    app, env = crashable
    seed(app, TOTAL)
    first = Worker(env, tmp_path / "first.log")
    first.start()
    assert first.proc is not None
    killed_at: list[float] = []

    def kill_at_halfway(envelope: object) -> None:
        if not killed_at and len(smtp_server.received) >= TOTAL // 2:
            assert first.proc is not None
            kill_and_wait(descendants(first.proc.pid))
            killed_at.append(time.monotonic())

    smtp_server.handler.reply = kill_at_halfway
    second = Worker(env, tmp_path / "second.log")
    try:
        with app.app_context():
            assert outbox.start(_new_digest()) == TOTAL
            db.session.commit()
            digest_id = db.session.scalar(select(Digest.id))
            assert digest_id is not None
            enqueue_batches(digest_id)
        deadline = time.monotonic() + 60
        while not killed_at:
            assert time.monotonic() < deadline, "the worker was not killed"
            time.sleep(0.01)
        first.proc.wait(10)
        smtp_server.handler.reply = None
        second.start(extra=("-B", "--schedule", str(tmp_path / "beat-schedule")))
        deadline = time.monotonic() + 120
        while len({r.rcpt_tos[0] for r in smtp_server.received}) < TOTAL:
            assert time.monotonic() < deadline, second.output()[-3000:]
            time.sleep(0.1)
        moved_on = time.monotonic() - killed_at[0]
        with app.app_context():
            while db.session.scalar(select(Digest.status)) != DigestStatus.sent:
                assert time.monotonic() < deadline, second.output()[-3000:]
                db.session.rollback()
                time.sleep(0.2)
        time.sleep(0.3)
    finally:
        smtp_server.handler.reply = None
        first.stop()
        second.stop()
    print(f"the last of the dead worker's readers got the digest {moved_on:.1f} s after the kill")
    # The lease (15-20 s), beat's first reap and the resend: about 35 s on a loaded machine.
    assert moved_on < 90, moved_on
    counts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert set(counts) == {f"reader{i}@example.org" for i in range(TOTAL)}  # nobody lost
    # A second copy only of a message in flight as the worker died: one per connection.
    assert sum(n - 1 for n in counts.values()) <= CONCURRENCY
    with app.app_context():
        p = control.progress(digest_id)
        assert (p.sent, p.total) == (TOTAL, TOTAL)
