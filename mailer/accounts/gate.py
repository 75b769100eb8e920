"""At most a few password checks at once per process.

Each argon2 check takes 64 MiB for its few tens of milliseconds. A web worker runs up to
WEB_THREADS (128) requests at once, and a botnet posting sign-ins for made-up addresses
meets no per-account throttle: 128 checks at once would want 8 GiB and bring the server
down for readers too. Past the slots, a sign-in waits up to WAIT_SECONDS for one, then gets
503 with Retry-After; the check itself never runs outside a slot. One more slot is kept for
trusted attempts (a browser with its editor's device cookie, mailer.accounts.devices): a
flood of strangers' sign-ins keeps the others busy, never the editor's own browser.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.exceptions import ServiceUnavailable

SLOTS = max(2, os.cpu_count() or 1)  # argon2 is CPU-bound: more at once is only slower
WAIT_SECONDS = 2.0  # short: a waiting sign-in holds its throttle rows and a connection
RETRY_AFTER = 30
_slots = threading.BoundedSemaphore(SLOTS)
_trusted = threading.BoundedSemaphore(1)


class Busy(ServiceUnavailable):
    """Every password-check slot stayed taken for WAIT_SECONDS."""

    description = "Sign-in is busy at the moment. Please try again in a minute."

    def __init__(self) -> None:
        super().__init__(retry_after=RETRY_AFTER)


@contextmanager
def password_check(trusted: bool = False) -> Iterator[None]:
    """A slot for one argon2 hash or verification; Busy when none frees up in time. A
    trusted attempt takes the kept slot when it is free, else waits like any other."""
    held = _trusted if trusted and _trusted.acquire(blocking=False) else None
    if held is None and _slots.acquire(timeout=WAIT_SECONDS):
        held = _slots
    if held is None:
        raise Busy()
    try:
        yield
    finally:
        held.release()
