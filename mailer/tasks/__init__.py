"""Celery tasks: thin wrappers that load rows by id and call one service function.

The Celery app lists these modules (mailer.extensions.TASK_MODULES, its `include`): a
worker imports them at start, whatever blueprints the process loaded.
Queue a task with `enqueue_after_commit`.
"""

from __future__ import annotations

from mailer.tasks.accounts import send_editor_invite, send_editor_notice
from mailer.tasks.digests import (
    enqueue_batches,
    enqueue_review_mails,
    reap_deliveries,
    send_digest_batch,
    send_pause_notice,
    send_review_mail,
    send_scheduled_digests,
    send_test_digest,
    start_digest,
)
from mailer.tasks.housekeeping import (
    apply_retention,
    poll_bounce_mailbox,
    process_bounces,
    sweep_confirmations,
)
from mailer.tasks.imports import poll_feeds, run_subscriber_import, sweep_subscriber_imports
from mailer.tasks.mail import (
    enqueue_confirmations,
    send_already_subscribed,
    send_confirmation,
    send_link_mail,
)
from mailer.tasks.queue import enqueue_after_commit

__all__ = [
    "apply_retention",
    "enqueue_after_commit",
    "enqueue_batches",
    "enqueue_confirmations",
    "enqueue_review_mails",
    "poll_bounce_mailbox",
    "poll_feeds",
    "process_bounces",
    "reap_deliveries",
    "run_subscriber_import",
    "send_already_subscribed",
    "send_confirmation",
    "send_digest_batch",
    "send_editor_invite",
    "send_editor_notice",
    "send_link_mail",
    "send_review_mail",
    "send_pause_notice",
    "send_scheduled_digests",
    "send_test_digest",
    "start_digest",
    "sweep_confirmations",
    "sweep_subscriber_imports",
]
