"""Hand a task to the workers only once the rows it reads are committed."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError
from redis import RedisError

from mailer.extensions import db

logger = logging.getLogger(__name__)

# What publishing raises when Redis is away (the publish retry policy gave up).
QUEUE_DOWN = (OperationalError, RedisError, OSError)


def enqueue_after_commit(task: Task, *args: Any) -> bool:
    """Commit the session, then queue `task(*args)`; False (logged) if the queue is down.

    Commit first: a worker that picks the task up at once must find the rows it names.
    A task that could not be queued is the caller's to remember (each has a sweeper).
    Arguments are ids, never addresses (audit I1): they sit in Redis in clear.
    """
    db.session.commit()
    try:
        task.apply_async(args)
    except QUEUE_DOWN:
        logger.warning("queue unavailable; %s not queued", task.name)
        return False
    return True
