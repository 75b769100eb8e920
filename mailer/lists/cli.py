"""`mailer lists list|create|delete`: the list changes of mailer.lists.service, from a shell."""

from __future__ import annotations

import click
from flask.cli import AppGroup

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# The options of `lists create` whose names are not their field's (mailer.lists.fields).
OPTIONS = {
    "is_public": "--private",
    "schedule_weekday": "--weekday",
    "schedule_hour": "--hour",
    "schedule_timezone": "--timezone",
    "send_automatically": "--send-automatically",
}

lists_group = AppGroup("lists", help="Create, show and delete mailing lists.")


def option_for(field: str) -> str:
    """The option of `lists create` that sets a ListFields field."""
    return OPTIONS.get(field, "--" + field.replace("_", "-"))


@lists_group.command("list")
def list_command() -> None:
    """Show every list: slug, name, public or private, subscribers, weekly schedule."""
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.lists.service import deletion_summary
    from mailer.models import MailingList

    for ml in db.session.scalars(select(MailingList).order_by(MailingList.id)):
        counts = deletion_summary(ml)
        schedule = "no weekly digest"
        if ml.schedule_weekday is not None:
            mode = "automatic" if ml.send_automatically else "waits for an editor"
            schedule = (
                f"{WEEKDAY_NAMES[ml.schedule_weekday].title()} {ml.schedule_hour:02d}:00"
                f" {ml.schedule_timezone}, {mode}"
            )
        click.echo(
            f"{ml.slug}\t{ml.name}\t{'public' if ml.is_public else 'private'}\t{ml.language}\t"
            f"{counts.confirmed} confirmed, {counts.pending} pending\t{schedule}"
        )


@lists_group.command("create")
@click.option("--slug", required=True, help="Lower-case letters, digits and hyphens.")
@click.option("--name", required=True, help="The list's name, shown to readers.")
@click.option("--description", default="", help="One or two sentences for the sign-up form.")
@click.option("--private", is_flag=True, help="Not offered on the public sign-up form.")
@click.option("--language", default="en", show_default=True, help="Default language.")
@click.option("--from-name", default="", help="Sender name of its digests (default MAIL_FROM's).")
@click.option("--reply-to", default="", help="Reply-To address of its digests.")
@click.option("--weekday", type=click.Choice(WEEKDAY_NAMES, case_sensitive=False))
@click.option("--hour", type=click.IntRange(0, 23), help="Hour of the weekly digest.")
@click.option("--timezone", default="UTC", show_default=True, help="e.g. Europe/Berlin.")
@click.option(
    "--send-automatically/--wait-for-editor",
    default=False,
    show_default=True,
    help="Whether the weekly digest goes out by itself or waits for an editor's approval.",
)
@click.option(
    "--pause-bounce-rate",
    type=float,
    help="Hard bounces, in % of the messages sent, at which a digest pauses itself"
    " (0: never; default AUTO_PAUSE_BOUNCE_RATE).",
)
@click.option(
    "--pause-complaint-rate",
    type=float,
    help="Complaints, in % of the messages sent, at which a digest pauses itself"
    " (0: never; default AUTO_PAUSE_COMPLAINT_RATE).",
)
@click.option(
    "--pause-min-sent",
    type=int,
    help="Messages sent before those rates count (default AUTO_PAUSE_MIN_SENT).",
)
def create_command(
    slug: str,
    name: str,
    description: str,
    private: bool,
    language: str,
    from_name: str,
    reply_to: str,
    weekday: str | None,
    hour: int | None,
    timezone: str,
    send_automatically: bool,
    pause_bounce_rate: float | None,
    pause_complaint_rate: float | None,
    pause_min_sent: int | None,
) -> None:
    """Create a list."""
    from flask import current_app

    from mailer.extensions import db
    from mailer.lists.fields import InvalidList, ListError, ListFields
    from mailer.lists.service import create_list

    fields = ListFields(
        name=name,
        slug=slug,
        description=description,
        is_public=not private,
        language=language,
        from_name=from_name,
        reply_to=reply_to,
        schedule_weekday=WEEKDAY_NAMES.index(weekday.lower()) if weekday else None,
        schedule_hour=hour,
        schedule_timezone=timezone,
        send_automatically=send_automatically,
        pause_bounce_rate=pause_bounce_rate,
        pause_complaint_rate=pause_complaint_rate,
        pause_min_sent=pause_min_sent,
    )
    try:
        created = create_list(fields, current_app.config["LANGUAGES"])
    except InvalidList as exc:
        db.session.rollback()
        lines = [f"{option_for(k)}: {v}" for k, v in exc.errors.items()]
        raise click.ClickException("the list was not created:\n  " + "\n  ".join(lines)) from None
    except ListError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"list {created.slug} created ({'private' if private else 'public'})")


@lists_group.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Really delete it, with its subscriptions.")
def delete_command(slug: str, yes: bool) -> None:
    """Delete the list SLUG: its subscriptions, drafts and sent issues; suppressions stay."""
    from mailer.extensions import db
    from mailer.lists.fields import ListError
    from mailer.lists.service import delete_list, deletion_summary, find

    mailing_list = find(slug)
    if mailing_list is None:
        raise click.ClickException(f"There is no list with the slug {slug!r}.")
    s = deletion_summary(mailing_list)
    click.echo(
        f"{slug}: {s.confirmed} confirmed and {s.pending} pending subscribers,"
        f" {s.sent_digests} sent issues, {s.other_digests} drafts or cancelled digests."
    )
    if not yes:
        raise click.ClickException("Nothing deleted: run again with --yes to delete this list.")
    try:
        delete_list(mailing_list)
    except ListError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"list {slug} deleted; suppressions kept")
