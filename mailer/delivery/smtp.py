"""SmtpTransport: one SMTP connection reused per worker process, timeouts, reconnect once.

Servers and their TLS policy come from `smtp_url`; several servers are spread over by
`smtp_pool.SmtpPool`.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
from collections.abc import Callable
from typing import Protocol

from mailer.delivery.message import Email
from mailer.delivery.pipelining import Envelope, transact
from mailer.delivery.smtp_url import SmtpServer, SmtpUrlError, parse_smtp_urls

__all__ = ["SmtpServer", "SmtpTransport", "SmtpUrlError", "parse_smtp_urls", "smtp_code"]

BeforeSend = Callable[[str], None]


class PlaintextAuthRefused(smtplib.SMTPException):
    """The session is not encrypted, so the credentials are not sent (audit M7)."""


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
                # smtp_url already asks for TLS whenever there are credentials; this is the
                # last line: whatever the URL said, no password goes over a plaintext socket.
                if not isinstance(conn.sock, ssl.SSLSocket):
                    raise PlaintextAuthRefused(
                        f"SMTP server {s.key}: the session is not encrypted, so mailer does"
                        " not log in (use starttls=require or smtps://)"
                    )
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


class _Closable(Protocol):
    def close(self) -> None: ...


# The process-wide transports, by (SMTP_URL, timeout); smtp_pool.get_smtp_transport fills it.
_transports: dict[tuple[str, float], _Closable] = {}


def close_all() -> None:
    """Close every kept connection of this process (worker shutdown, tests)."""
    for transport in _transports.values():
        transport.close()
    _transports.clear()
