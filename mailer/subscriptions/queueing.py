"""Hand confirmation mails to the workers after the caller's commit (never before it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kombu.exceptions import OperationalError
from redis import RedisError

from mailer.extensions import db
from mailer.subscriptions import service
from mailer.tasks import send_confirmation

logger = logging.getLogger(__name__)


def enqueue_confirmations(subscriber_ids: Iterable[int]) -> int:
    """Queue a confirmation mail per subscriber; if the queue is down, leave them to the sweeper."""
    queued = 0
    for subscriber_id in subscriber_ids:
        try:
            send_confirmation.delay(subscriber_id)
        except (OperationalError, RedisError, OSError):
            logger.warning("queue unavailable; subscriber %s left to the sweeper", subscriber_id)
            service.mark_not_queued(subscriber_id)
            db.session.commit()
            continue
        queued += 1
    return queued
