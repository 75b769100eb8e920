"""The built-in bounce receiver: SMTP or LMTP (aiosmtpd) that an MTA hands bounce mail to.

Each message is committed to the database before the receiver answers 250, so a crash never
loses a bounce: either the MTA got a 250 and the message is stored, or it did not and the MTA
tries again (a duplicate is then recorded once). Processing follows inline; if it fails, the
message stays stored and the `mailer.process_bounces` beat job tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from mailer.bounces import service
from mailer.extensions import db

logger = logging.getLogger(__name__)


class BounceHandler:
    """aiosmtpd handler: store (commit), then process, then answer."""

    def __init__(self, app: Flask, *, lmtp: bool = False) -> None:
        self.app = app
        self.lmtp = lmtp

    def _reply(self, status: str, envelope: Envelope) -> str:
        # LMTP answers DATA once per accepted recipient (RFC 2033 4.2).
        count = max(1, len(envelope.rcpt_tos)) if self.lmtp else 1
        return "\r\n".join([status] * count)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        recipients = [str(r) for r in envelope.rcpt_tos]
        try:
            inbound_id = await asyncio.to_thread(self._store, raw, recipients)
        except SQLAlchemyError:
            logger.exception("bounce receiver: could not store a message; answered 451")
            return self._reply("451 4.3.0 Could not store the message, try again later", envelope)
        await asyncio.to_thread(self._process, inbound_id)
        return self._reply(f"250 2.0.0 Stored as {inbound_id}", envelope)

    def _store(self, raw: bytes, recipients: list[str]) -> int:
        with self.app.app_context():  # its teardown rolls back what an error left
            inbound_id = service.store(raw, recipients).id
            db.session.commit()
            return inbound_id

    def _process(self, inbound_id: int) -> None:
        with self.app.app_context():
            try:
                if service.count_attempt(inbound_id):
                    db.session.commit()
                    service.process_stored(inbound_id)
                    db.session.commit()
            # The message is stored and acknowledged whatever happens here; the beat job
            # (mailer.process_bounces) tries again, so log and carry on serving.
            except Exception:
                db.session.rollback()
                logger.exception("inbound %s: processing failed; left for the sweeper", inbound_id)


def _log_refusal(server: SMTP, status: str | bytes) -> None:
    """Log each refusal for size: aiosmtpd answers 552 on its own (SIZE= or too much DATA)."""
    if (status.decode() if isinstance(status, bytes) else status).startswith("552"):
        logger.warning(
            "bounce receiver: refused a message over BOUNCE_MAX_BYTES (%s bytes) with 552",
            server.data_size_limit,
        )


class _SMTPServer(SMTP):
    async def push(self, status: Any) -> None:
        _log_refusal(self, status)
        await super().push(status)


class _LMTPServer(LMTP):
    async def push(self, status: Any) -> None:
        _log_refusal(self, status)
        await super().push(status)


class BounceController(Controller):
    """A threaded aiosmtpd controller speaking SMTP or LMTP to the BounceHandler."""

    def __init__(
        self, app: Flask, host: str = "127.0.0.1", port: int = 2525, *, lmtp: bool = False
    ) -> None:
        self.lmtp = lmtp
        super().__init__(
            BounceHandler(app, lmtp=lmtp),
            hostname=host,
            port=port,
            data_size_limit=int(app.config["BOUNCE_MAX_BYTES"]),
        )

    def factory(self) -> Any:
        server_class = _LMTPServer if self.lmtp else _SMTPServer
        return server_class(self.handler, **self.SMTP_kwargs)
