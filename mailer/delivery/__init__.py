"""Email only: messages and transports. Never imports the app's models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mailer.delivery.memory import MemoryTransport
from mailer.delivery.message import Email
from mailer.delivery.pipelining import Envelope
from mailer.delivery.smtp import SmtpTransport
from mailer.delivery.smtp_pool import get_smtp_transport
from mailer.delivery.smtp_url import SmtpServer, SmtpUrlError


class Transport(Protocol):
    def send(self, email: Email) -> None: ...

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: Callable[[str], None] | None = None,
        then: Envelope | None = None,
    ) -> None: ...

    def close(self) -> None: ...


__all__ = [
    "Email",
    "MemoryTransport",
    "SmtpServer",
    "SmtpTransport",
    "SmtpUrlError",
    "Transport",
    "get_smtp_transport",
]
