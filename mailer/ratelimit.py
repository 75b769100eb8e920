"""A global send-rate limit per SMTP server, shared by every worker through Redis.

GCRA (a token bucket kept as one "theoretical arrival time") in one Lua script, so a
reservation is atomic however many processes and machines ask at once. Callers reserve
before they send and sleep the returned time: no retry loop, and a reservation is never
taken back. The clock is the Redis server's (`TIME`), so workers with skewed clocks agree;
they only ever sleep a duration that Redis computed.

Guarantee: the reserved send times put at most `rate * w + burst` messages in any window of
`w` seconds. Steady traffic sends one message every `1 / rate` seconds; `burst` is only
reached after the bucket has been idle.

Redis away (a restart, a failover): `wait` waits for it, up to PATIENCE, rather than let the
message go unthrottled; see `SendRateLimiter.wait`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
from flask import Flask, current_app

logger = logging.getLogger(__name__)

KEY_PREFIX = "mailer:rate:"  # + the server key, e.g. "smtp.example.org:587"
# Seconds `wait` keeps asking while Redis cannot be reached. A batch waiting here keeps its
# rows: a thread renews their lease while the worker lives (mailer/digests/lease.py).
PATIENCE = 60.0
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)

# KEYS[1] the bucket; ARGV[1] microseconds per token, ARGV[2] burst, ARGV[3] tokens wanted.
# Stores the theoretical arrival time (TAT, µs): when the bucket would be empty again.
# Returns {now, send_at} in µs of the Redis clock.
_GCRA = """
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = math.ceil(tat + n * interval)
local send_at = math.max(now, math.ceil(new_tat - burst * interval))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1)
return {now, send_at}
"""


def default_burst(rate: float) -> int:
    """Tokens an idle bucket may hand out at once: a tenth of a second's worth, at least 1."""
    return max(1, int(rate // 10))


@dataclass(frozen=True)
class Reservation:
    """Tokens reserved at `at` (Redis clock, seconds); the caller sends after `wait` seconds."""

    now: float
    at: float

    @property
    def wait(self) -> float:
        return max(0.0, self.at - self.now)


class SendRateLimiter:
    """At most `rate` messages per second per SMTP server, across all workers (GCRA in Redis)."""

    def __init__(
        self,
        client: redis.Redis,
        rate: float,
        burst: int | None = None,
        patience: float = PATIENCE,
    ) -> None:
        self.client = client
        self.rate = float(rate)
        self.patience = patience
        self.burst = default_burst(self.rate) if burst is None else int(burst)
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._script = client.register_script(_GCRA)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def reserve(self, server_key: str, n: int = 1) -> Reservation:
        """Reserve `n` tokens of `server_key`'s bucket; raises redis.RedisError if Redis is down."""
        if n < 1:
            raise ValueError("n must be at least 1")
        if not self.enabled:
            return Reservation(0.0, 0.0)
        if n > self.burst:
            # Sending more than `burst` at once would break the window guarantee.
            raise ValueError(f"cannot reserve {n} tokens at once; burst is {self.burst}")
        now_us, at_us = self._script(
            keys=[KEY_PREFIX + server_key], args=[1_000_000 / self.rate, self.burst, n]
        )
        return Reservation(int(now_us) / 1_000_000, int(at_us) / 1_000_000)

    def acquire(self, server_key: str, n: int = 1) -> float:
        """Reserve `n` tokens; the seconds to wait before sending them (0.0 if allowed now)."""
        return self.reserve(server_key, n).wait

    def wait(self, server_key: str, n: int = 1) -> None:
        """Reserve `n` tokens and sleep until they may be sent; wait out a Redis restart.

        While Redis cannot be reached, ask again (every second at most) for up to `patience`
        seconds, then raise. Sending on without a reservation is not the fallback: SEND_RATE
        keeps us within the SMTP server's limits, and every worker sending at will while
        Redis is away would pass them many times over (4xx replies, a throttled or blocked
        account). So a restart of a few seconds pauses sending; a longer outage stops the
        batch (send_batch lets the error through) and its rows keep their lease until the
        reaper hands them out again: no attempt counted, no one failed, no one sent twice.
        """
        deadline = time.monotonic() + self.patience
        pause = 0.05
        while True:
            try:
                delay = self.acquire(server_key, n)
                break
            except UNREACHABLE as exc:
                if time.monotonic() + pause > deadline:
                    raise
                if pause == 0.05:
                    logger.warning("send rate limiter: Redis unreachable, waiting: %s", exc)
                time.sleep(pause)
                pause = min(1.0, pause * 2)
        if delay > 0:
            time.sleep(delay)


def get_limiter(app: Flask | None = None) -> SendRateLimiter:
    """The limiter for `app` (default: current_app): its Redis client and SEND_RATE."""
    app = app if app is not None else current_app
    return SendRateLimiter(app.extensions["redis"], float(app.config["SEND_RATE"] or 0.0))
