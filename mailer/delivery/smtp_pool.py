"""SmtpPool: several SMTP servers by weight, with failover; the process-wide transport."""

from __future__ import annotations

import logging
import os
import random
import smtplib
import threading
import time
from collections.abc import Sequence

from mailer.delivery.errors import describe
from mailer.delivery.message import Email
from mailer.delivery.pipelining import Envelope
from mailer.delivery.smtp import (
    BeforeSend,
    SmtpTransport,
    _ConnectFailed,
    _transports,
)
from mailer.delivery.smtp_url import SmtpServer, parse_smtp_urls

logger = logging.getLogger(__name__)


class SmtpUnavailable(ConnectionError):
    """Every server of the pool is cooling down after a failed connection: retry later."""


class SmtpPool:
    """Spreads messages over several SMTP servers by weight; fails over while one is down.

    Only a failure to open a session (refused, timed out, disconnected or an error reply
    before MAIL FROM, TLS or AUTH failure) moves on to another server, which then sits out
    `cooldown` seconds. A reply to the message itself (4xx, 5xx) is the answer for that
    recipient and is raised.
    """

    def __init__(
        self,
        servers: Sequence[SmtpServer],
        timeout: float = 30.0,
        cooldown: float = 30.0,
        seed: int | None = None,
    ) -> None:
        if not servers:
            raise ValueError("an SMTP pool needs at least one server")
        self.transports = [SmtpTransport(server, timeout) for server in servers]
        self.cooldown = cooldown
        self.last_server: str | None = None  # key of the server that took the last message
        self._down_until: dict[str, float] = {}
        self._errors: dict[str, str] = {}  # the last error's class and code (errors.describe)
        self._rng = random.Random(seed)
        self._next: SmtpTransport | None = None  # drawn ahead for the next message
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def servers(self) -> list[SmtpServer]:
        return [t.server for t in self.transports]

    def down(self) -> list[str]:
        """Keys of the servers cooling down after a failed connection."""
        now = time.monotonic()
        with self._lock:
            return [key for key, until in self._down_until.items() if until > now]

    def _choose(self, exclude: Sequence[SmtpTransport] = ()) -> SmtpTransport | None:
        with self._lock:
            if self._pid != os.getpid():  # forked children must not pick in step
                self._rng, self._pid = random.Random(), os.getpid()
            now = time.monotonic()
            up = [
                t
                for t in self.transports
                if t not in exclude and self._down_until.get(t.server_key, 0.0) <= now
            ]
            if not up:
                return None
            return self._rng.choices(up, weights=[t.server.weight for t in up])[0]

    def _unavailable(self) -> SmtpUnavailable:
        errors = ", ".join(f"{key} ({self._errors.get(key)})" for key in self.down())
        return SmtpUnavailable(f"every SMTP server is down: {errors}")

    def pick(self) -> SmtpTransport:
        """A server that is not cooling down, chosen at random by weight."""
        transport = self._choose()
        if transport is None:
            raise self._unavailable()
        return transport

    def _mark_down(self, transport: SmtpTransport, error: smtplib.SMTPException | OSError) -> None:
        with self._lock:
            self._down_until[transport.server_key] = time.monotonic() + self.cooldown
            self._errors[transport.server_key] = describe(error)
        logger.warning(  # class and code only: a reply may echo the AUTH user or a recipient
            "SMTP server %s is down for %.0fs: %s",
            transport.server_key,
            self.cooldown,
            describe(error),
        )

    def rest(self, server_key: str, seconds: float) -> None:
        """Leave a server out for `seconds`: it is on hold (mailer.backoff), not down."""
        with self._lock:
            until = time.monotonic() + seconds
            self._down_until[server_key] = max(self._down_until.get(server_key, 0.0), until)

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: BeforeSend | None = None,
        then: Envelope | None = None,
    ) -> None:
        """Send one message through a server chosen by weight, failing over while one is down.

        With `then`, the server for the next message is drawn now: when it is this one, the
        next envelope is pipelined after this message (SmtpTransport.send_raw).
        """
        tried: list[SmtpTransport] = []
        transport, self._next = self._next, None
        if transport is None or transport.server_key in self.down():
            transport = self.pick()
        following = self._choose() if then is not None else None
        while transport is not None:
            if before is not None:
                before(transport.server_key)
            ahead = then if following is transport else None
            try:
                transport._send(envelope_from, to, data, ahead)
            except _ConnectFailed as failed:
                self._mark_down(transport, failed.error)
                tried.append(transport)
                transport, following = self._choose(exclude=tried), None
                if transport is None:
                    raise failed.error from None
                continue
            except BaseException:
                self._next = following  # refused, but the next envelope may have gone ahead
                raise
            self.last_server = transport.server_key
            self._next = following
            return

    def send(self, email: Email) -> None:
        self.send_raw(email.envelope_sender, email.to, email.as_bytes())

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


def get_smtp_transport(url: str, timeout: float = 30.0) -> SmtpTransport | SmtpPool:
    """The process-wide transport for SMTP_URL (a pool when it lists several servers)."""
    key = (url, timeout)
    transport = _transports.get(key)
    if not isinstance(transport, SmtpTransport | SmtpPool):
        servers = parse_smtp_urls(url)
        if len(servers) == 1:
            transport = SmtpTransport(servers[0], timeout)
        else:
            transport = SmtpPool(servers, timeout)
        _transports[key] = transport
    return transport
