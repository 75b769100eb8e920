"""The `mailer` console script and `flask --app wsgi` commands of SPEC.md."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import MailingList

DEMO_LISTS = [
    ("weekly", "Weekly updates", "A weekly digest of our latest articles.", True),
    (
        "alerts",
        "Press freedom alerts",
        "Urgent actions for writers at risk, when they happen.",
        True,
    ),
    ("members", "Members' briefing", "News for members and partner centres.", False),
]


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo content: the lists (and, later, articles and a draft digest)."""
    added = 0
    for slug, name, description, public in DEMO_LISTS:
        if db.session.scalar(select(MailingList).where(MailingList.slug == slug)) is None:
            db.session.add(
                MailingList(slug=slug, name=name, description=description, is_public=public)
            )
            added += 1
    db.session.commit()
    click.echo(f"demo content: {added} lists added")


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--smtp-port", default=8025, show_default=True, help="the development SMTP catcher")
def dev_command(host: str, port: int, smtp_port: int) -> None:
    """Run everything on this machine: web, worker, scheduler, Redis, SMTP catcher."""
    from mailer import ROOT
    from mailer.dev.runner import run_dev

    run_dev(ROOT, host, port, smtp_port)


def register(app: Flask) -> None:
    app.cli.add_command(demo_command)
    app.cli.add_command(dev_command)


def main() -> None:
    """Entry point of the `mailer` console script."""
    from mailer import create_app

    FlaskGroup(create_app=create_app, name="mailer")()
