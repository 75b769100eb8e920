"""`mailer bounces serve|process` and `mailer suppress add|remove|list|import`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup

from mailer.bounces import service, suppressions
from mailer.extensions import db
from mailer.models import SuppressionReason
from mailer.privacy import InvalidAddress
from mailer.subscriptions.csv_format import BadFile

bounces_group = AppGroup("bounces", help="Receive and process bounce and complaint mail.")
suppress_group = AppGroup("suppress", help="The suppression list (keyed hashes, never addresses).")

REASONS = [r.value for r in SuppressionReason]


@bounces_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=2525, show_default=True)
@click.option("--lmtp", is_flag=True, help="Speak LMTP (RFC 2033) instead of SMTP.")
def serve_command(host: str, port: int, lmtp: bool) -> None:
    """Receive bounce mail from an MTA: store each message, then process it."""
    from mailer.bounces.receiver import BounceController

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    controller = BounceController(app, host, port, lmtp=lmtp)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller.start()
    click.echo(f"bounce receiver ({'LMTP' if lmtp else 'SMTP'}) on {host}:{port}; Ctrl-C stops")
    try:
        stop.wait()
    finally:
        controller.stop()


@bounces_group.command("process")
def process_command() -> None:
    """Process stored bounce mail whose processing never finished."""
    from datetime import timedelta

    done = 0
    for inbound_id in service.unprocessed(timedelta(0), limit=10_000):
        if service.count_attempt(inbound_id):
            db.session.commit()
            service.process_stored(inbound_id)
            db.session.commit()
            done += 1
    click.echo(f"processed {done} stored messages")


@bounces_group.command("poll")
def poll_command() -> None:
    """Fetch the bounce mailbox (BOUNCE_IMAP_URL) once: store, remove, process."""
    from mailer.bounces import imap

    url = current_app.config.get("BOUNCE_IMAP_URL")
    if not url:
        raise click.ClickException("Set BOUNCE_IMAP_URL to the bounce mailbox first.")
    try:
        report = imap.poll(imap.parse_url(url), int(current_app.config["BOUNCE_MAX_BYTES"]))
    except imap.ImapUrlError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"stored {report.stored}, processed {report.processed}, left {report.too_large} too large"
    )


@suppress_group.command("add")
@click.argument("email")
@click.option("--reason", type=click.Choice(REASONS), default="manual", show_default=True)
def add_command(email: str, reason: str) -> None:
    """Never mail EMAIL again (stored as a keyed hash)."""
    try:
        added = suppressions.add(email, SuppressionReason(reason))
    except InvalidAddress as exc:
        raise click.ClickException(f"Not a valid address: {exc}") from None
    db.session.commit()
    click.echo("suppressed" if added else "already suppressed")


@suppress_group.command("remove")
@click.argument("email")
def remove_command(email: str) -> None:
    """Take EMAIL off the suppression list."""
    try:
        row = suppressions.remove(email)
    except InvalidAddress as exc:
        raise click.ClickException(f"Not a valid address: {exc}") from None
    if row is None:
        raise click.ClickException("That address is not on the suppression list.")
    db.session.commit()
    click.echo(f"removed (it was suppressed as {row.reason.value})")


@suppress_group.command("list")
@click.option("--reason", type=click.Choice(REASONS), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=None)
def list_command(reason: str | None, limit: int | None) -> None:
    """List suppressions: hash prefix, reason, date (never addresses)."""
    rows = suppressions.entries(SuppressionReason(reason) if reason else None, limit)
    for row in rows:
        click.echo(f"{row.address_hash[:12]}  {row.reason.value:<12}  {row.created_at:%Y-%m-%d}")
    totals = ", ".join(f"{n} {r}" for r, n in sorted(suppressions.counts().items()))
    click.echo(f"{len(rows)} shown; total: {totals or 'none'}")


@suppress_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", type=click.Choice(REASONS), default="manual", show_default=True)
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows despite refused ones.")
def import_command(path: Path, reason: str, skip_invalid: bool) -> None:
    """Import a CSV of addresses (an `email` column, or the first); all or nothing."""
    try:
        rows = suppressions.read_csv(path.read_bytes())
    except BadFile as exc:
        raise click.ClickException(f"Nothing imported: {exc}") from None
    with click.progressbar(length=len(rows), label="Importing") as bar:
        report = suppressions.import_rows(
            rows, reason=SuppressionReason(reason), skip_invalid=skip_invalid, progress=bar.update
        )
    for line, why in report.refused:
        click.echo(f"  line {line} refused: {why}")
    if report.refused and not skip_invalid:
        db.session.rollback()
        refused = len(report.refused)
        raise click.ClickException(
            f"{refused} {'row' if refused == 1 else 'rows'} refused; nothing imported"
            " (fix them or --skip-invalid)"
        )
    db.session.commit()
    click.echo(
        f"added {report.added}, already suppressed {report.already}, refused {len(report.refused)}"
    )
