"""The global send-rate limit: one Redis bucket per SMTP server, shared by every process."""

from __future__ import annotations

import bisect
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from mailer import create_app
from mailer.ratelimit import KEY_PREFIX, SendRateLimiter, get_limiter
from tests.conftest import ROOT, base_config, redis_db

# One worker process: reserve, sleep, record when it "sends"; starts on the parent's "go".
WORKER = """
import json, sys, time
import redis
from mailer.ratelimit import SendRateLimiter

url, key, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
client = redis.Redis.from_url(url)
limiter = SendRateLimiter(client, rate)
client.ping()
print("ready", flush=True)
sys.stdin.readline()
sent, scheduled = [], []
for _ in range(count):
    reservation = limiter.reserve(key)  # what limiter.wait(key) does, keeping the schedule
    if reservation.wait:
        time.sleep(reservation.wait)
    sent.append(time.time())
    scheduled.append(reservation.at)
print(json.dumps({"sent": sent, "scheduled": scheduled}), flush=True)
"""


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    return redis_db(redis_base_url, 3)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(KEY_PREFIX + "test-*"):
        client.delete(key)
    client.close()


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most timestamps in any closed window [t, t + width]."""
    times = sorted(times)
    return max(bisect.bisect_right(times, t + width) - i for i, t in enumerate(times))


def test_single_process_paces_to_the_rate(client: redis_lib.Redis, key: str) -> None:
    limiter = SendRateLimiter(client, rate=100)
    assert limiter.burst == 10
    scheduled = []
    started = time.monotonic()
    for _ in range(50):
        reservation = limiter.reserve(key)
        time.sleep(reservation.wait)
        scheduled.append(reservation.at)
    elapsed = time.monotonic() - started

    assert elapsed >= 0.95 * (50 - limiter.burst) / limiter.rate
    assert max_in_window(scheduled) <= limiter.rate + limiter.burst
    assert max_in_window(scheduled, 0.1) <= 0.1 * limiter.rate + limiter.burst


def test_wait_sleeps_what_acquire_reserves(client: redis_lib.Redis, key: str) -> None:
    limiter = SendRateLimiter(client, rate=20, burst=1)
    started = time.monotonic()
    first = limiter.reserve(key)
    assert first.wait == 0.0
    # The second token is due 1/rate after the first, on Redis's clock: asked for later
    # than that (a busy machine), it is due at once. Never sooner, never later.
    second = limiter.reserve(key)
    assert second.at == pytest.approx(max(second.now, first.at + 0.05), abs=1e-3)
    assert second.wait <= 0.05
    limiter.wait(key)  # third token: 0.1 s after the first, at the earliest
    assert time.monotonic() - started >= 0.095


def test_limit_holds_across_processes(redis_url: str, client: redis_lib.Redis, key: str) -> None:
    rate, processes, each = 300.0, 3, 120
    burst = SendRateLimiter(client, rate).burst
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, redis_url, key, str(rate), str(each)],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(processes)
        ]
        for worker in workers:
            stack.callback(worker.kill)  # before the exit's wait, should a worker hang
        for worker in workers:  # all imported and connected: start them together
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=30)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    results = [json.loads(output) for output in outputs]
    sent = sorted(t for result in results for t in result["sent"])
    scheduled = sorted(t for result in results for t in result["scheduled"])
    total = processes * each

    # The processes ran at the same time, and the Redis-clock schedule they shared is exact.
    assert max(r["sent"][0] for r in results) < min(r["sent"][-1] for r in results)
    assert max_in_window(scheduled) <= rate + burst
    assert max_in_window(scheduled, 0.1) <= 0.1 * rate + burst
    # What the SMTP server would see: a sleep can overshoot (by a lot on a busy machine), which
    # delays a message into the next window but never adds one; allow what the overshoot moved.
    late = max(s - at for r in results for s, at in zip(r["sent"], r["scheduled"], strict=True))
    assert max_in_window(sent) <= rate * (1 + max(late, 0.0)) + burst
    # Never faster than the rate; not far slower either (a slow machine sends late, not less).
    assert (total - burst) / (scheduled[-1] - scheduled[0]) <= rate * 1.01
    assert (total - burst) / (sent[-1] - sent[0]) >= rate / 3


def test_rate_zero_never_calls_redis() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on `port` now: any command would fail.
    dead = redis_lib.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    unlimited = SendRateLimiter(dead, rate=0)
    assert not unlimited.enabled
    assert [unlimited.acquire("smtp:25") for _ in range(100)] == [0.0] * 100
    unlimited.wait("smtp:25", n=5)

    # The same client with a limit raises: no silent unthrottled sending.
    with pytest.raises(redis_lib.ConnectionError):
        SendRateLimiter(dead, rate=10).acquire("smtp:25")
    dead.close()


def test_wait_rides_out_a_redis_restart_and_gives_up_after_its_patience(
    client: redis_lib.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = SendRateLimiter(client, rate=100, patience=5)
    acquire, calls = limiter.acquire, []

    def restarting(server_key: str, n: int = 1) -> float:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise redis_lib.ConnectionError("Connection refused")
        return acquire(server_key, n)

    monkeypatch.setattr(limiter, "acquire", restarting)
    limiter.wait(key)  # Redis back after three tries: the message goes, with a reservation
    assert len(calls) == 4 and client.exists(KEY_PREFIX + key)
    assert calls[-1] - calls[0] < 2.5  # asked again soon, not after the whole patience (5 s)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = redis_lib.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    started = time.monotonic()
    with pytest.raises(redis_lib.ConnectionError):  # never unthrottled
        SendRateLimiter(dead, rate=10, patience=0.5).wait("smtp:25")
    assert 0.2 <= time.monotonic() - started < 4.0  # gave up after its patience, not never
    dead.close()


def test_servers_have_separate_buckets(client: redis_lib.Redis, key: str) -> None:
    limiter = SendRateLimiter(client, rate=1, burst=1)  # a second between tokens: room to be slow
    assert limiter.acquire(key + "-a") == 0.0
    assert limiter.acquire(key + "-a") > 0
    assert limiter.acquire(key + "-b") == 0.0
    assert client.pttl(KEY_PREFIX + key + "-a") > 0  # keys expire once the bucket is full


def test_reserving_several_tokens(client: redis_lib.Redis, key: str) -> None:
    limiter = SendRateLimiter(client, rate=5, burst=5)
    assert limiter.acquire(key, n=5) == 0.0
    assert 0 < limiter.acquire(key, n=5) <= 1.0  # five tokens at 5/s: a second (room to be slow)
    with pytest.raises(ValueError, match="burst"):
        limiter.acquire(key, n=6)


def test_get_limiter_from_the_app(database_url: str, redis_url: str) -> None:
    config = base_config(database_url, redis_url, "smtp://127.0.0.1:2525")
    app = create_app({**config, "SEND_RATE": 40.0})
    with app.app_context():
        limiter = get_limiter()
    assert limiter.client is app.extensions["redis"]
    assert (limiter.rate, limiter.burst) == (40.0, 4)
    assert not get_limiter(create_app({**config, "SEND_RATE": 0})).enabled
