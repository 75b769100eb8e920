"""SMTP transport: one connection reused per worker process, timeouts, reconnect once."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.delivery.message import Email

logger = logging.getLogger(__name__)


class SmtpUrlError(ValueError):
    """SMTP_URL cannot be parsed."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # implicit TLS (smtps://)
    starttls: str  # "auto" (when offered), "require" or "off"
    username: str | None
    password: str | None
    verify: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse smtp://[user:pass@]host[:port][?starttls=auto|require|off&verify=on|off]."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpUrlError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "auto")
        if starttls not in ("auto", "require", "off"):
            raise SmtpUrlError("starttls must be auto, require or off")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls="off" if tls else starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=query.get("verify", "on") != "off",
        )


class SmtpTransport:
    """Sends messages over one kept-open SMTP connection."""

    def __init__(self, server: SmtpServer, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

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
            self._conn, self._pid = None, os.getpid()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    def send_raw(self, envelope_from: str, to: str, data: bytes) -> None:
        """Send one serialized message; reconnect once if the kept connection went stale."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._connection().sendmail(envelope_from, [to], data)
                    return
                except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError):
                    self._conn = None
                    if attempt == 2:
                        raise
                except (smtplib.SMTPException, OSError):
                    # The connection may be in any state: start the next send afresh.
                    self.close()
                    raise

    def send(self, email: Email) -> None:
        self.send_raw(email.envelope_sender, email.to, email.as_bytes())


_transports: dict[tuple[str, float], SmtpTransport] = {}


def get_smtp_transport(url: str, timeout: float = 30.0) -> SmtpTransport:
    """The process-wide transport for this URL, so a worker reuses its connection."""
    key = (url, timeout)
    transport = _transports.get(key)
    if transport is None:
        transport = _transports[key] = SmtpTransport(SmtpServer.from_url(url), timeout)
    return transport


def close_all() -> None:
    """Close every kept connection of this process (worker shutdown, tests)."""
    for transport in _transports.values():
        transport.close()
    _transports.clear()
