"""A back-off per SMTP server, shared by every worker through Redis.

When a server answers a message with a 4xx about itself (421, 451, 4.7.x throttling...) or
cannot be reached, nobody should send to it for a while: every batch sending to it stops
and puts its rows back for later, without charging them an attempt (mailer.digests.retry).
The first trip holds the server for about DELIVERY_RETRY_BASE seconds; each trip within a
back-off's memory doubles the hold, up to `cap`. Trips while a hold is on change nothing,
so many batches meeting the same storm back it off once. The state is one Redis hash per
server (`until`, `level`, in µs of the Redis clock) that expires a while after the hold ends,
which resets the level.

Checked once per batch (`held`) and on failure (`trip`): the per-message path never
asks Redis. Redis away: `held` says nothing is held and `trip` returns a local hold, so a
batch still stops at the first 4xx; only the sharing is lost.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence

import redis
from flask import Flask, current_app

logger = logging.getLogger(__name__)

KEY_PREFIX = "mailer:backoff:"  # + the server key, e.g. "smtp.example.org:587"
CAP = 3600.0  # seconds: the longest hold

# KEYS[1] the server's hash; ARGV[1] base µs, ARGV[2] cap µs, ARGV[3] jitter (0.5 to 1).
# Returns {now, until} in µs of the Redis clock.
_TRIP = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if held > now then return {now, held} end
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0') + 1
local base, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local delay = math.min(cap, base * 2 ^ (level - 1)) * tonumber(ARGV[3])
held = math.ceil(now + delay)
redis.call('HSET', KEYS[1], 'until', string.format('%.0f', held), 'level', level)
redis.call('PEXPIRE', KEYS[1], math.ceil((2 * delay + 10 * base) / 1000))
return {now, held}
"""

# KEYS the servers' hashes. Returns {now, until of each (0: not held)} in µs.
_HELD = """
local t = redis.call('TIME')
local out = {tonumber(t[1]) * 1000000 + tonumber(t[2])}
for i, key in ipairs(KEYS) do
  out[i + 1] = tonumber(redis.call('HGET', key, 'until') or '0')
end
return out
"""


class ServerBackoff:
    """Holds of SMTP servers after a 4xx about the server or a connection failure."""

    def __init__(
        self,
        client: redis.Redis,
        base: float,
        cap: float = CAP,
        jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.0),
    ) -> None:
        self.base, self.cap, self.jitter = max(0.001, float(base)), float(cap), jitter
        self._trip = client.register_script(_TRIP)
        self._held = client.register_script(_HELD)

    def trip(self, server_key: str) -> float:
        """Hold the server (unless it is held already); seconds until it may be tried again."""
        try:
            now, until = self._trip(
                keys=[KEY_PREFIX + server_key],
                args=[self.base * 1e6, self.cap * 1e6, self.jitter()],
            )
        except redis.RedisError as exc:
            logger.warning("server back-off: Redis failed, holding locally: %s", exc)
            return self.base * self.jitter()
        return max(0.0, (int(until) - int(now)) / 1e6)

    def held(self, server_keys: Sequence[str]) -> dict[str, float]:
        """The servers among `server_keys` on hold, with the seconds each has left."""
        if not server_keys:
            return {}
        try:
            now, *untils = self._held(keys=[KEY_PREFIX + key for key in server_keys])
        except redis.RedisError as exc:
            logger.warning("server back-off: Redis failed, not checked: %s", exc)
            return {}
        return {
            key: (int(until) - int(now)) / 1e6
            for key, until in zip(server_keys, untils, strict=True)
            if int(until) > int(now)
        }


def get_backoff(app: Flask | None = None) -> ServerBackoff:
    """The back-off for `app` (default: current_app): its Redis client and DELIVERY_RETRY_BASE."""
    app = app if app is not None else current_app
    return ServerBackoff(app.extensions["redis"], float(app.config["DELIVERY_RETRY_BASE"]))
