"""A batch's lease on its rows: short, and renewed by a thread while the worker lives.

A batch claims its rows until `lease_expires_at`. While it runs, a thread of its own renews
the lease every RENEW_EVERY seconds, whatever the batch is doing (a slow SMTP reply, a wait
for the rate limiter or for Redis): the lease lapses only when the process is gone or
frozen. Then the reaper (every 10 seconds, mailer.reap_deliveries in the beat schedule)
puts the rows back to pending and re-queues them: a dead worker's readers move on within
LEASE + 10 seconds (half a minute), and a live worker never loses its rows
mid-send, so nobody gets a second copy beyond the one message a dying worker had in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from types import TracebackType

from sqlalchemy import Engine, update

from mailer.models import Delivery, DeliveryStatus, utcnow

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=20)
RENEW_EVERY = 5.0  # seconds: three renewals may fail (a database hiccup) before it lapses
clock = time.monotonic  # tests replace it


class Heartbeat:
    """Renews the lease of `owner`'s rows in a thread while the `with` block runs.

    Statements of the batch that change many of its rows at once run under `lock`, so they
    and a renewal never wait for each other's row locks (PostgreSQL could deadlock).
    """

    def __init__(self, engine: Engine, owner: str, every: float = RENEW_EVERY) -> None:
        self.engine, self.owner, self.every = engine, owner, every
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self.renewed = clock()  # the claim has just set the lease

    def alive(self) -> bool:
        """Whether the lease surely still holds: renewed within the last half lease.

        Past that, the batch must stop sending: once the lease lapses, the reaper hands the
        rows to another worker, and a batch that went on would send them a second time.
        """
        return clock() - self.renewed < LEASE.total_seconds() / 2

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            with self.lock:
                try:
                    self.renew()
                except Exception as exc:  # noqa: BLE001  (the thread must live on; alive() tells)
                    logger.warning("lease of %s not renewed: %s", self.owner, type(exc).__name__)
                else:
                    self.renewed = clock()

    def renew(self) -> int:
        """Push the lease of the rows the batch still holds LEASE into the future."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(
                    Delivery.lease_owner == self.owner, Delivery.status == DeliveryStatus.sending
                )
                .values(lease_expires_at=utcnow() + LEASE)
            )
        return int(result.rowcount or 0)
