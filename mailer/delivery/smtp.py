"""SMTP transports: one connection reused per worker process, timeouts, reconnect once.

SMTP_URL may list several servers (comma- or whitespace-separated, each with an optional
`weight=N`); `SmtpPool` then spreads messages over them by weight and fails over to the
next server while one cannot be reached.
"""

from __future__ import annotations

import logging
import os
import random
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.delivery.errors import describe
from mailer.delivery.message import Email
from mailer.delivery.pipelining import Envelope, transact

logger = logging.getLogger(__name__)


BeforeSend = Callable[[str], None]


class SmtpUrlError(ValueError):
    """SMTP_URL cannot be parsed."""


class SmtpUnavailable(ConnectionError):
    """Every server of the pool is cooling down after a failed connection: retry later."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # implicit TLS (smtps://)
    starttls: str  # "auto" (when offered), "require" or "off"
    username: str | None
    password: str | None = field(repr=False)
    verify: bool
    weight: int = 1  # share of the messages when SMTP_URL lists several servers

    @property
    def key(self) -> str:
        """host:port, the name a per-server rate limit or log line uses."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse smtp://[user:pass@]host[:port][?starttls=auto|require|off&verify=on|off&weight=N]."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpUrlError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        try:
            port = parts.port
        except ValueError:
            raise SmtpUrlError("the port of SMTP_URL must be a number from 0 to 65535") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "auto")
        if starttls not in ("auto", "require", "off"):
            raise SmtpUrlError("starttls must be auto, require or off")
        weight = query.get("weight", "1")
        if not weight.isdigit() or int(weight) < 1:
            raise SmtpUrlError("weight must be a whole number of at least 1")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if tls else 25),
            tls=tls,
            starttls="off" if tls else starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=query.get("verify", "on") != "off",
            weight=int(weight),
        )


def parse_smtp_urls(value: str) -> list[SmtpServer]:
    """The servers of an SMTP_URL that lists one or more URLs, separated by commas or spaces."""
    urls = [url for url in re.split(r"[\s,]+", value) if url]
    if not urls:
        raise SmtpUrlError("SMTP_URL is empty")
    servers: list[SmtpServer] = []
    for n, url in enumerate(urls, 1):
        try:
            server = SmtpServer.from_url(url)
        except SmtpUrlError as exc:
            if len(urls) == 1:
                raise
            # The URL itself may hold a password: name the entry by its position only.
            raise SmtpUrlError(
                f"SMTP_URL entry {n} of {len(urls)}: {exc} (servers are separated by commas"
                " or spaces; write them in a password as %2C or %20)"
            ) from None
        if any(s.key == server.key for s in servers):
            raise SmtpUrlError(f"SMTP_URL entry {n} of {len(urls)}: {server.key} is listed twice")
        servers.append(server)
    return servers


class _ConnectFailed(Exception):
    """Opening the session failed, so nothing was sent: the pool may try another server."""

    def __init__(self, error: smtplib.SMTPException | OSError) -> None:
        super().__init__(error)
        self.error = error


class SmtpTransport:
    """Sends messages over one kept-open SMTP connection."""

    def __init__(self, server: SmtpServer, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self._announced: Envelope | None = None  # the envelope sent after the last content
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def server_key(self) -> str:
        """host:port of the server, for per-server rate limits."""
        return self.server.key

    @property
    def last_server(self) -> str:
        """The server the last message went to (always this one; SmtpPool varies)."""
        return self.server.key

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.server.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        conn: smtplib.SMTP
        if s.tls:
            conn = smtplib.SMTP_SSL(
                s.host, s.port, timeout=self.timeout, context=self._tls_context()
            )
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if s.starttls == "require" or (s.starttls == "auto" and conn.has_extn("starttls")):
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except BaseException:
            conn.close()  # a failed handshake or login must not leak the socket
            raise
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._pid != os.getpid():  # forked: the socket belongs to the parent
            self._conn, self._announced, self._pid = None, None, os.getpid()
        if self._conn is None:
            try:
                self._conn = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                raise _ConnectFailed(exc) from exc
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        announced, self._announced = self._announced, None
        if conn is None:
            return
        if announced is not None:  # the server reads anything now as message content
            conn.close()  # a session that ends inside DATA delivers nothing
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _send(self, envelope_from: str, to: str, data: bytes, then: Envelope | None = None) -> None:
        """send_raw, but a failure to open the session raises _ConnectFailed."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                announced, self._announced = self._announced, None
                if announced is not None and announced != (envelope_from, to):
                    self.close()  # it waits for another message's content: abandon that
                    conn, announced = self._connection(), None
                try:
                    reply = transact(
                        conn, envelope_from, to, data, announced=announced is not None, then=then
                    )
                except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError):
                    self._conn = None
                    if attempt == 2:
                        raise
                    continue
                except _ANSWERED:
                    raise  # the server answered this message and the session was reset: keep it
                except (smtplib.SMTPException, OSError):
                    # The connection may be in any state: start the next send afresh.
                    self.close()
                    raise
                if reply.announced:
                    self._announced = then
                if reply.code != 250:
                    if not reply.announced:
                        self._reset(conn)
                    raise smtplib.SMTPDataError(reply.code, reply.message)
                return

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: BeforeSend | None = None,
        then: Envelope | None = None,
    ) -> None:
        """Send one serialized message; reconnect once if the kept connection went stale.

        `before(server_key)` runs right before the message goes out (a rate limiter's wait).
        `then`: the envelope of the message the caller sends next, pipelined after this one
        (see `pipelining`); sending another next costs a new session.
        """
        if before is not None:
            before(self.server_key)
        try:
            self._send(envelope_from, to, data, then)
        except _ConnectFailed as failed:
            raise failed.error from None

    def send(self, email: Email) -> None:
        self.send_raw(email.envelope_sender, email.to, email.as_bytes())


def smtp_code(exc: BaseException) -> int | None:
    """The SMTP reply code an error carries (the worst for refused recipients), if any."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    code = getattr(exc, "smtp_code", None)
    return code if isinstance(code, int) else None


# Refusals of one message after which sendmail and `transact` have reset the session.
_ANSWERED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


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


_transports: dict[tuple[str, float], SmtpTransport | SmtpPool] = {}


def get_smtp_transport(url: str, timeout: float = 30.0) -> SmtpTransport | SmtpPool:
    """The process-wide transport for SMTP_URL (a pool when it lists several servers)."""
    key = (url, timeout)
    transport = _transports.get(key)
    if transport is None:
        servers = parse_smtp_urls(url)
        if len(servers) == 1:
            transport = SmtpTransport(servers[0], timeout)
        else:
            transport = SmtpPool(servers, timeout)
        _transports[key] = transport
    return transport


def close_all() -> None:
    """Close every kept connection of this process (worker shutdown, tests)."""
    for transport in _transports.values():
        transport.close()
    _transports.clear()
