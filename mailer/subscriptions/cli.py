"""`mailer subscribers import|export`: CSV in (validated, one transaction) and out (streamed)."""

from __future__ import annotations

import getpass
import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.cli_files import open_private
from mailer.dev.redis_state import require_redis
from mailer.extensions import db
from mailer.models import MailingList, SubscriptionStatus
from mailer.subscriptions import exporting, importing
from mailer.tasks import enqueue_confirmations

logger = logging.getLogger(__name__)
subscribers_group = AppGroup("subscribers", help="Import and export subscribers (CSV).")

STATUSES = [s.value for s in SubscriptionStatus]


def _list(slug: str) -> MailingList:
    found = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        raise click.ClickException(f"There is no list called “{slug}”.")
    return found


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown user"


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "slug", required=True, help="The slug of the list to import into.")
@click.option(
    "--confirmed",
    is_flag=True,
    help="They already consented elsewhere: subscribe them confirmed, with no confirmation mail.",
)
def import_command(path: Path, slug: str, confirmed: bool) -> None:
    """Import FILE.csv (header email,name,language; name and language optional) into a list.

    Without --confirmed each new subscription is pending and gets a confirmation mail.
    """
    if not confirmed:
        require_redis()  # the confirmation mails are queued
    mailing_list = _list(slug)
    max_bytes = int(current_app.config["SUBSCRIBER_IMPORT_MAX_BYTES"])
    try:
        if path.stat().st_size > max_bytes:
            raise importing.FileTooLarge(f"the file is larger than {max_bytes} bytes.")
        records = importing.read_csv(path.read_bytes(), max_bytes)
        with click.progressbar(length=len(records), label="Importing") as bar:
            report = importing.import_records(
                records,
                mailing_list,
                confirmed=confirmed,
                source=f"import, by command line ({_os_user()})",
                progress=bar.update,
            )
    except importing.BadFile as exc:
        db.session.rollback()
        raise click.ClickException(f"Nothing imported: {exc}") from None
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(
            "Nothing imported: someone signed up with one of these addresses meanwhile; "
            "run the import again."
        ) from None
    db.session.commit()
    logger.info(
        "list %s: imported %d, already %d, refused %d",
        mailing_list.id,
        report.imported,
        report.already,
        len(report.refused),
    )
    pending = f" ({report.already_pending} awaiting confirmation)" if report.already_pending else ""
    mails = len(report.to_confirm)
    queued = f"; {mails} confirmation {'mail' if mails == 1 else 'mails'} queued"
    click.echo(
        f"imported {report.imported}, already subscribed {report.already}{pending}, "
        f"refused {len(report.refused)}" + ("" if confirmed else queued)
    )
    for line, why in report.refused:
        click.echo(f"  line {line}: {why}")
    enqueue_confirmations(report.to_confirm)


@subscribers_group.command("export")
@click.option("--list", "slug", default=None, help="Only this list (by slug).")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file, readable by its owner only (default: standard output).",
)
def export_command(slug: str | None, status: str | None, output: Path | None) -> None:
    """Write subscriptions as CSV: email,name,language,list,status,subscribed_at,confirmed_at."""
    query = exporting.export_query(
        mailing_list=_list(slug) if slug else None,
        status=SubscriptionStatus(status) if status else None,
    )
    if output is None or str(output) == "-":
        for chunk in exporting.export_csv(query):
            click.echo(chunk, nl=False)
        return
    with open_private(output) as stream:
        for chunk in exporting.export_csv(query):
            stream.write(chunk)
