"""The sign-up's checks in Redis, in one round trip: the per-IP limit and the used challenges.

Flask-Limiter asked Redis once per window of RATELIMIT_SIGNUP_IP ("10 per minute;60 per
hour": two round trips), and the proof of work's replay store once more: in a sign-up burst
each round trip is CPU in the web process and in Redis. Here one Lua script counts the
client's request in every window and, unless a window is over, records the solved
challenge's signature (SET NX): a request held back by the limit uses up nothing.

Same rules as Flask-Limiter's fixed windows (its `incr_expire` script, `fail_on_first_breach`):
windows counted shortest first, each counter expiring a window after its first request, and
none counted past the first one over its limit. Keys: `LIMITER/<keyed hash of the client's
network>/subscriptions.subscribe/...`, never the address (audit L2; mailer.keys).

Redis away: an error is logged and both checks go on in this process's memory (as
Flask-Limiter's in-memory fallback did, and as the challenge's replay store did): not open,
and sign-ups go on through a Redis restart.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import redis
from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from redis.commands.core import Script

from mailer import challenge
from mailer.keys import rate_limit_key

logger = logging.getLogger(__name__)

SCOPE = "subscriptions.subscribe"

# KEYS: one counter per window (shortest first), then the challenge's key ('' for none).
# ARGV: for each window its limit and its seconds, then the challenge's ttl.
# Returns {over the limit (0/1), challenge first used (1), already used (0), none asked (-1)}.
_SCRIPT = """
local windows = #KEYS - 1
for i = 1, windows do
  local n = redis.call('INCRBY', KEYS[i], 1)
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
  if n > tonumber(ARGV[2 * i - 1]) then return {1, -1} end
end
local key = KEYS[windows + 1]
if key == '' then return {0, -1} end
local ttl = ARGV[2 * windows + 1]
if redis.call('SET', key, '1', 'NX', 'EX', ttl) then return {0, 1} end
return {0, 0}
"""


@dataclass(frozen=True)
class Verdict:
    """What the checks found: over the per-IP limit, and whether the solution may be used."""

    limited: bool
    challenge_ok: bool


@functools.lru_cache(maxsize=16)
def _windows(setting: str) -> tuple[RateLimitItem, ...]:
    return tuple(sorted(parse_many(setting)))


def check(solution: str | None) -> Verdict:
    """Count this request against RATELIMIT_SIGNUP_IP and use up `solution` (the form's proof
    of work) if it is genuine, fresh and unused. `solution` is only looked at when the
    challenge is on; a request over the limit uses up nothing."""
    cfg = current_app.config
    windows = _windows(str(cfg["RATELIMIT_SIGNUP_IP"])) if cfg["RATELIMIT_ENABLED"] else ()
    challenge_on = bool(cfg["SIGNUP_CHALLENGE"])
    signature = challenge.solved_signature(solution) if challenge_on else None
    if not windows and signature is None:  # nothing to ask Redis
        return Verdict(False, not challenge_on)
    keys = [item.key_for("LIMITER", rate_limit_key(), SCOPE) for item in windows]
    args: list[int] = []
    for item in windows:
        args += [item.amount, item.get_expiry()]
    args.append(challenge.replay_ttl())
    replay_key = challenge.replay_key(signature) if signature else ""
    try:
        limited, fresh = _script(current_app.extensions["redis"])(
            keys=[*keys, replay_key], args=args
        )
    except redis.RedisError:
        logger.error(
            "sign-up limits and challenge replay store: Redis unavailable, using process memory"
        )
        return _in_memory(windows, keys, signature, challenge_on)
    return Verdict(bool(limited), not challenge_on or (signature is not None and fresh == 1))


def _script(client: redis.Redis) -> Script:
    scripts: dict[int, Script] = current_app.extensions.setdefault("signup_guard_scripts", {})
    if id(client) not in scripts:
        scripts[id(client)] = client.register_script(_SCRIPT)
    return scripts[id(client)]


_MEMORY = MemoryStorage()
_MEMORY_LIMITER = FixedWindowRateLimiter(_MEMORY)


def _in_memory(
    windows: tuple[RateLimitItem, ...], keys: list[str], signature: str | None, challenge_on: bool
) -> Verdict:
    """The same checks in this process's memory while Redis is away."""
    for item, key in zip(windows, keys, strict=True):
        if not _MEMORY_LIMITER.hit(item, key):
            return Verdict(True, False)
    if signature is None:
        return Verdict(False, not challenge_on)
    return Verdict(False, challenge.first_use_in_memory(signature))
