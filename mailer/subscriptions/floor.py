"""The equal-time floor of sign-ups, raised under load so that every address answers alike.

A new address costs a few inserts, a known or suppressed one a lookup: SIGNUP_MIN_DURATION
hides that difference while the work takes less than the floor. Under a burst the work itself
stretches (CPUs shared by many requests) past a fixed floor, and the difference would show
again. So each process remembers how long its recent sign-ups took and waits for a high
quantile of that, with a margin: the floor follows the load, between SIGNUP_MIN_DURATION and
SIGNUP_MAX_DURATION. The wait is a sleep, so under gthread workers it holds a thread, not a
CPU (README, "Serving").
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import current_app

WINDOW = 200  # recent sign-ups remembered per process
MIN_SAMPLES = 20  # below this, the configured minimum alone
QUANTILE = 0.95
MARGIN = 1.25


class Floor:
    """Recent sign-up work durations of this process, and the floor they call for."""

    def __init__(self, window: int = WINDOW) -> None:
        self._recent: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(seconds)

    def seconds(self, minimum: float, maximum: float) -> float:
        """The floor now: the QUANTILE of recent work times MARGIN, within [minimum, maximum]."""
        with self._lock:
            recent = sorted(self._recent)
        if len(recent) < MIN_SAMPLES:
            return minimum
        high = recent[min(len(recent) - 1, int(len(recent) * QUANTILE))] * MARGIN
        return max(minimum, min(maximum, high))


def wait_out(started: float, *, record: bool = True) -> None:
    """Sleep until this sign-up, begun at `started` (time.monotonic), has taken the floor.

    `record=False` for answers that did no real work (the honeypot): they wait as long as
    the others but must not pull the floor down.
    """
    cfg = current_app.config
    minimum = float(cfg["SIGNUP_MIN_DURATION"])
    if minimum <= 0:  # no floor at all (tests that measure something else)
        return
    floor: Floor = current_app.extensions.setdefault("signup_floor", Floor())
    work = time.monotonic() - started
    if record:
        floor.record(work)
    remaining = floor.seconds(minimum, max(minimum, float(cfg["SIGNUP_MAX_DURATION"]))) - work
    if remaining > 0:
        time.sleep(remaining)
