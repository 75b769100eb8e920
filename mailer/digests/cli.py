"""`mailer digest ...`: compose and send a list's digest, watch it, pause, resume, cancel."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup
from sqlalchemy import select

from mailer.delivery.headers import UnsafeHeader
from mailer.dev.redis_state import require_redis
from mailer.digests import control, lifecycle, outbox, service
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList

# Waiting this long for a worker to claim a digest, say so (once): maybe none is running.
NO_WORKER_AFTER = 30.0

digest_group = AppGroup("digest", help="Compose, send and control digests.")


def _list(slug: str) -> MailingList:
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if mailing_list is None:
        raise click.ClickException(f"No list with the slug {slug!r}.")
    return mailing_list


@digest_group.command("send")
@click.option("--list", "slug", required=True, help="The list's slug, e.g. weekly.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing.")
@click.option("--wait/--no-wait", default=True, help="Show progress until the digest is sent.")
def send_command(slug: str, dry_run: bool, wait: bool) -> None:
    """Compose the digest of the articles since the list's last one, and send it."""
    mailing_list = _list(slug)
    articles = service.articles_since_last_digest(mailing_list)
    if not articles:
        click.echo(f"No new articles since the last digest of {slug}: nothing to send.")
        return
    recipients = outbox.recipient_count(mailing_list.id)
    click.echo(f"{len(articles)} articles for {recipients} confirmed subscribers of {slug}:")
    for article in articles:
        click.echo(f"  - {article.title}")
    if dry_run:
        click.echo("Dry run: nothing was sent.")
        return
    require_redis()
    try:
        digest = lifecycle.create(mailing_list, articles)
    except UnsafeHeader as exc:
        raise click.ClickException(f"List {slug}: {exc}.") from None
    queued = lifecycle.start(digest.id)
    click.echo(
        f"Digest {digest.id} ({digest.slug}): queued for the workers."
        if queued
        else f"Digest {digest.id} ({digest.slug}): the queue is down; the scheduler starts it."
    )
    if wait:
        _watch(digest.id)


def _status(digest_id: int) -> DigestStatus | None:
    db.session.rollback()  # see other processes' commits
    return db.session.scalar(select(Digest.status).where(Digest.id == digest_id))


def _wait_for_start(digest_id: int) -> None:
    """Until a worker has claimed the digest (it is no longer scheduled)."""
    waited = time.monotonic()
    warned = False
    while _status(digest_id) == DigestStatus.scheduled:
        if not warned and time.monotonic() - waited > NO_WORKER_AFTER:
            click.echo("No worker has started it yet: is a Celery worker running?", err=True)
            warned = True
        time.sleep(0.1)


def _watch(digest_id: int) -> None:
    """A progress bar over the digest's deliveries until none is open."""
    _wait_for_start(digest_id)
    start = control.progress(digest_id)
    with click.progressbar(length=start.total, label="Sending", show_pos=True) as bar:
        shown = start.done
        bar.update(shown)
        while True:
            status = _status(digest_id)
            now = control.progress(digest_id)
            bar.update(now.done - shown)
            shown = now.done
            if status != DigestStatus.sending or now.remaining == 0:
                break
            time.sleep(0.5)
    click.echo(
        f"Digest {digest_id}: {status.value if status else '?'}; sent {now.sent}, "
        f"failed {now.failed}, skipped {now.skipped}, remaining {now.remaining}."
    )
    _say_why(digest_id)


@digest_group.command("status")
@click.argument("digest_id", type=int)
def status_command(digest_id: int) -> None:
    """Show a digest's progress."""
    digest = db.session.get(Digest, digest_id)
    if digest is None:
        raise click.ClickException(f"No digest {digest_id}.")
    p = control.progress(digest_id)
    click.echo(
        f"Digest {digest_id} ({digest.status.value}): sent {p.sent}, failed {p.failed}, "
        f"skipped {p.skipped}, remaining {p.remaining} of {p.total}."
    )
    _say_why(digest_id)


def _say_why(digest_id: int) -> None:
    """A digest that paused itself: why (mailer.digests.autopause)."""
    reason = db.session.scalar(
        select(Digest.pause_reason).where(
            Digest.id == digest_id, Digest.status == DigestStatus.paused
        )
    )
    if reason:
        click.echo(reason)


CONTROLS = {
    "pause": lifecycle.pause,
    "resume": lifecycle.resume,
    "cancel": lifecycle.cancel,
    "unschedule": lifecycle.unschedule,
    "approve": lifecycle.approve,
    "hold": lifecycle.hold,
}
QUEUES = ("resume", "approve")  # the controls that hand work to the workers


def _control(digest_id: int, action: str) -> None:
    if action in QUEUES:
        require_redis()
    try:
        CONTROLS[action](digest_id)
    except (lifecycle.NotSendable, service.NoArticles) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Digest {digest_id}: {action} done.")


@digest_group.command("pause")
@click.argument("digest_id", type=int)
def pause_command(digest_id: int) -> None:
    """Pause a sending digest."""
    _control(digest_id, "pause")


@digest_group.command("resume")
@click.argument("digest_id", type=int)
def resume_command(digest_id: int) -> None:
    """Resume a paused digest."""
    _control(digest_id, "resume")


@digest_group.command("cancel")
@click.argument("digest_id", type=int)
def cancel_command(digest_id: int) -> None:
    """Cancel a digest; deliveries not yet sent are skipped."""
    _control(digest_id, "cancel")


@digest_group.command("unschedule")
@click.argument("digest_id", type=int)
def unschedule_command(digest_id: int) -> None:
    """Make a scheduled digest a draft again."""
    _control(digest_id, "unschedule")


@digest_group.command("approve")
@click.argument("digest_id", type=int)
def approve_command(digest_id: int) -> None:
    """Approve the week's digest: sent at its slot, or now if the slot passed."""
    _control(digest_id, "approve")


@digest_group.command("hold")
@click.argument("digest_id", type=int)
def hold_command(digest_id: int) -> None:
    """Hold the week's scheduled digest: a draft until an editor approves it."""
    _control(digest_id, "hold")
