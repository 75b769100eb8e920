"""An in-memory transport for fast unit tests only."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from mailer.delivery.message import Email, SmtpData


class MemoryTransport:
    """Keeps sent messages in a list instead of talking SMTP."""

    def __init__(self, outbox: list[EmailMessage] | None = None) -> None:
        self.outbox: list[EmailMessage] = outbox if outbox is not None else []

    def send_raw(
        self,
        envelope_from: str,
        to: str,
        data: bytes,
        before: Callable[[str], None] | None = None,
        then: tuple[str, str] | None = None,  # nothing to pipeline in memory
    ) -> None:
        if before is not None:
            before("memory")
        if isinstance(data, SmtpData):  # what a server would make of it
            data = data.unstuffed()
        msg = message_from_bytes(data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.outbox.append(msg)

    def send(self, email: Email) -> None:
        self.send_raw(email.envelope_sender, email.to, email.as_bytes())

    def close(self) -> None:
        pass
