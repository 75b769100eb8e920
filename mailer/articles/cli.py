"""`mailer import-feed`: articles from an RSS or Atom feed, with progress and a summary."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("import-feed")
@click.argument("source")
@click.option(
    "--language",
    metavar="CODE",
    help="The feed's language (e.g. fr), one of the site's, over what the feed says, also for"
    " articles imported before; as in FEEDS' fr=URL.",
)
@with_appcontext
def import_feed_command(source: str, language: str | None) -> None:
    """Import articles from an RSS or Atom feed: an http(s) URL or a file.

    Without --language, new articles take the language the feed gives (each entry's, else
    the feed's, else DEFAULT_LANGUAGE), and articles already stored keep theirs: a
    re-import never undoes a language given before. Entries already stored as they are
    count as unchanged.
    """
    from contextlib import ExitStack

    from mailer.articles.feed_links import primary_language
    from mailer.articles.feeds import FeedError, import_feed
    from mailer.extensions import db

    offered = current_app.config["LANGUAGES"]
    if language is not None and primary_language(language) not in offered:
        raise click.ClickException(
            "nothing was imported:\n  --language: Choose one of the site's languages: "
            + ", ".join(sorted(offered))
            + "."
        )
    with ExitStack() as stack:
        bars: list[Any] = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(click.progressbar(length=total, label="Importing")))
            bars[0].update(done - bars[0].pos)

        try:
            report = import_feed(source, language=language, progress=progress)
        except FeedError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged},"
        f" skipped {len(report.skipped)}"
    )
    for name, reason in report.skipped:
        click.echo(f"  skipped {name}: {reason}")
