"""`mailer audit export`: the audit log as CSV, for the operator (not role-gated)."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import with_appcontext


@click.group("audit")
def audit_group() -> None:
    """The audit log of admin actions and logins."""


@audit_group.command("export")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only events from this day on (UTC, YYYY-MM-DD).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@with_appcontext
def export_command(since: datetime | None, output: str | None) -> None:
    """Write the audit log as CSV (oldest first)."""
    from mailer.audit.query import Filters, csv_lines
    from mailer.cli_files import open_private

    filters = Filters(since=date(since.year, since.month, since.day) if since else None)
    if output is None:
        for chunk in csv_lines(filters):
            click.echo(chunk, nl=False)
        return
    count = 0
    # Mode 0600, as `mailer subscribers export`: editors' addresses.
    with open_private(output) as out:
        for chunk in csv_lines(filters):
            out.write(chunk)
            count += chunk.count("\n")
    click.echo(f"{max(0, count - 1)} events written to {output}", err=True)
