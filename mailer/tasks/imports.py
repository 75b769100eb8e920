"""Import tasks: the admin's subscriber imports (run a job, sweep up jobs left behind) and
the article feeds."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app

from mailer.articles.feed_links import configured_feeds
from mailer.articles.feeds import FeedError, import_feed
from mailer.extensions import db
from mailer.subscriptions import import_jobs
from mailer.tasks.mail import enqueue_confirmations
from mailer.tasks.queue import enqueue_after_commit

logger = logging.getLogger(__name__)

# A job waiting this long had its task lost (Redis restarted, the web died before enqueueing):
# queue it again; the claim in import_jobs.run makes a second copy harmless.
REQUEUE_AFTER = timedelta(minutes=10)
# A running job commits progress every few hundred rows; this long silent, its worker died.
STALLED_AFTER = timedelta(minutes=30)


# Not acks_late: a redelivered message would find the job running and leave it; the sweeper
# fails a job whose worker died (its import transaction rolled back, nothing written).
@shared_task(name="mailer.run_subscriber_import")
def run_subscriber_import(import_id: int) -> None:
    """Import an uploaded CSV, then queue the confirmation mails of its pending subscribers."""
    to_confirm = import_jobs.run(import_id)
    enqueue_confirmations(to_confirm)


@shared_task(name="mailer.sweep_subscriber_imports")
def sweep_subscriber_imports() -> int:
    """Queue again the imports whose task was lost; fail those whose worker died."""
    queued, stalled = import_jobs.stale_jobs(REQUEUE_AFTER, STALLED_AFTER)
    for import_id in stalled:
        import_jobs.fail(import_id, import_jobs.STALLED)
    for import_id in queued:
        import_jobs.touch(import_id)
        enqueue_after_commit(run_subscriber_import, import_id)
        logger.warning("subscriber import %s: still queued, queued again", import_id)
    return len(queued) + len(stalled)


@shared_task(name="mailer.poll_feeds")
def poll_feeds() -> None:
    """Import each feed of FEEDS and commit it; a broken feed is logged and skipped."""
    feeds = configured_feeds(current_app.config["FEEDS"])
    for index, (url, language) in enumerate(feeds, 1):
        try:
            report = import_feed(url, language=language)
        except FeedError as exc:
            db.session.rollback()
            logger.warning("feed %d: nothing imported: %s", index, exc)
            continue
        db.session.commit()
        logger.info(
            "feed %d: %d added, %d updated, %d unchanged, %d skipped",
            index,
            report.added,
            report.updated,
            report.unchanged,
            len(report.skipped),
        )
