"""A development SMTP server (aiosmtpd) that keeps what it receives in Redis for /dev/outbox."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

OUTBOX_KEY = "mailer:dev:outbox"
OUTBOX_SIZE = 200


class OutboxHandler:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        entry = {
            "id": uuid.uuid4().hex,
            "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": raw.decode("utf-8", "replace"),
        }
        pipe = self.client.pipeline()
        pipe.lpush(OUTBOX_KEY, json.dumps(entry))
        pipe.ltrim(OUTBOX_KEY, 0, OUTBOX_SIZE - 1)
        pipe.execute()
        return "250 Message accepted for delivery"


def start_catcher(redis_url: str, host: str, port: int) -> Controller:
    controller = Controller(
        OutboxHandler(redis.Redis.from_url(redis_url)), hostname=host, port=port
    )
    controller.start()
    return controller


def read_outbox(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(item) for item in client.lrange(OUTBOX_KEY, 0, OUTBOX_SIZE - 1)]


def parse(entry: dict[str, Any]) -> EmailMessage:
    msg = message_from_bytes(entry["raw"].encode("utf-8"), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
