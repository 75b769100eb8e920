"""The `mailer` console script and `flask --app wsgi` commands of the product contract.

Every command module is imported by `register` (called by `create_app`), so `flask --app
wsgi` and `mailer` run the same commands on the same app. `mailer --help` lists them from
COMMANDS without building the app: it answers in a fraction of a second.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException, ScriptInfo, with_appcontext

# The app's commands and their one-line help, for `mailer --help` (tests/test_cli_startup.py checks
# that this is exactly what `register` adds, help included).
COMMANDS = {
    "audit": "The audit log of admin actions and logins.",
    "bounces": "Receive and process bounce and complaint mail.",
    "create-editor": "Create an editor (or set the password of an existing one).",
    "db": "Perform database migrations.",
    "demo": "Load demo content: lists, articles written for the demo and a draft digest.",
    "dev": "Run everything on this machine: web, worker, scheduler, Redis, SMTP catcher.",
    "digest": "Compose, send and control digests.",
    "editors": "Editor accounts: reset a second factor.",
    "import-feed": "Import articles from an RSS or Atom feed: an http(s) URL or a file.",
    "keys": "Key rotation helpers (README, Keys and rotation).",
    "lists": "Create, show and delete mailing lists.",
    "subscribers": "Import and export subscribers (CSV).",
    "suppress": "The suppression list (keyed hashes, never addresses).",
}


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo content: lists, articles written for the demo and a draft digest."""
    from mailer.demo import load_demo
    from mailer.extensions import db

    added = load_demo()
    db.session.commit()
    counts = ", ".join(
        f"{n} {thing if n == 1 else thing + 's'}"
        for n, thing in (
            (added["lists"], "list"),
            (added["articles"], "article"),
            (added["digests"], "draft digest"),
            (added["readers"], "demo reader"),
        )
    )
    click.echo(f"demo content: {counts} added")


def _address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The address normalised as the admin's invitations do, before a password is asked."""
    from mailer.privacy import InvalidAddress, normalise_email

    try:
        return normalise_email(value)
    except InvalidAddress as exc:
        raise click.BadParameter(f"Not a valid address: {exc}") from None


@click.command("create-editor")
@click.argument("email", callback=_address)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--role",
    type=click.Choice(["owner", "editor", "viewer"]),
    default=None,
    help="The role (default: owner for a new editor; an existing one keeps theirs).",
)
@with_appcontext
def create_editor_command(email: str, password_stdin: bool, role: str | None) -> None:
    """Create an editor (or set the password of an existing one)."""
    from mailer.accounts.passwords import PasswordRefused, check
    from mailer.admin.auth import WeakPassword, create_editor, find_editor
    from mailer.extensions import db
    from mailer.models import Role
    from mailer.tasks.accounts import notify_editor

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    existed = find_editor(email) is not None
    try:
        check(password)
        editor = create_editor(email, password)
    except (WeakPassword, PasswordRefused) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(f"Not a valid address: {exc}") from None
    if role is not None:
        editor.role = Role(role)
    db.session.commit()
    click.echo(f"editor {editor.id} ({editor.role.value}) saved; log in at /admin/login")
    # The Account page's notice: a password set behind the editor's back does not go unseen.
    if existed and not notify_editor(editor.id, "password"):
        click.echo("The queue is unavailable: the editor was not told by mail.", err=True)


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    default=8025,
    show_default=True,
    help="the development SMTP catcher",
)
@with_appcontext
def dev_command(host: str, port: int, smtp_port: int) -> None:
    """Run everything on this machine: web, worker, scheduler, Redis, SMTP catcher."""
    from mailer import ROOT
    from mailer.demo import ensure_demo_editor
    from mailer.dev.guard import DevelopmentExposed, check_bind
    from mailer.dev.runner import run_dev
    from mailer.extensions import db

    try:
        check_bind(host)  # before anything is made or printed
    except DevelopmentExposed as exc:
        raise click.ClickException(str(exc)) from None
    editor = ensure_demo_editor(ROOT / "instance")
    db.session.commit()
    run_dev(ROOT, host, port, smtp_port, editor)


@click.group("keys")
def keys_group() -> None:
    """Key rotation helpers (README, Keys and rotation)."""


@keys_group.command("address-hash-key")
@with_appcontext
def address_hash_key_command() -> None:
    """Print the ADDRESS_HASH_KEY that keeps today's address hashes (before a rotation)."""
    from flask import current_app

    from mailer.keys import address_hash_key_setting

    click.echo(address_hash_key_setting(current_app.config))


class MigrationsGroup(click.Group):
    """`db`: Flask-Migrate's commands, imported (with Alembic) only when `db ...` runs.

    Its context is the real group's (options, callback and subcommands included).
    """

    def __init__(self) -> None:
        super().__init__("db", help=COMMANDS["db"])

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        from mailer.extensions import init_migrate

        app = current_app._get_current_object() if current_app else None  # type: ignore[attr-defined]
        if app is None:
            assert parent is not None
            app = parent.ensure_object(ScriptInfo).load_app()
        init_migrate(app)
        from flask_migrate.cli import db

        return db.make_context(info_name, args, parent=parent, **extra)


def register(app: Flask) -> None:
    from mailer.accounts.cli import editors_group
    from mailer.articles.cli import import_feed_command
    from mailer.audit.cli import audit_group
    from mailer.bounces.cli import bounces_group, suppress_group
    from mailer.digests.cli import digest_group
    from mailer.lists.cli import lists_group
    from mailer.subscriptions.cli import subscribers_group

    app.cli.add_command(demo_command)
    app.cli.add_command(create_editor_command)
    app.cli.add_command(digest_group)
    app.cli.add_command(import_feed_command)
    app.cli.add_command(dev_command)
    app.cli.add_command(bounces_group)
    app.cli.add_command(suppress_group)
    app.cli.add_command(subscribers_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(lists_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(MigrationsGroup())
    app.cli.add_command(editors_group)


class MailerGroup(FlaskGroup):
    """FlaskGroup whose listing (`mailer --help`, completion) does not build the app.

    Running a command, or asking for its own help, builds it as FlaskGroup always does.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Ours and Flask's own (run, shell, routes), without the scan of every installed
        package's entry points: Flask-Limiter's `limiter` command alone imports rich and
        asyncio (~0.15 s). `mailer limiter ...` still works: get_command scans on a miss."""
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The app's own commands without FlaskGroup's scan of every installed package's
        entry points for plugin commands (about 0.07 s of CPU at a command's start)."""
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException as exc:
            click.secho(f"Error: {exc.format_message()}\n", err=True, fg="red")
            return None
        if not current_app or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            ctx.with_resource(app.app_context())
        return app.cli.get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
            elif command is None:
                short = click.Command(name, help=COMMANDS[name]).get_short_help_str(limit)
                rows.append((name, short))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class ConfigFailure(click.ClickException):
    """A setting refused at start: `Error: <message>` on one line, exit status 2."""

    exit_code = 2


def _create_app() -> Flask:
    from mailer import create_app
    from mailer.config_check import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # The message names the setting and the fix; a traceback would only bury it.
        raise ConfigFailure(str(exc)) from None


def main() -> None:
    """Entry point of the `mailer` console script."""
    # Flask's dotenv loading would read ./.env and ./.flaskenv of whatever directory the
    # operator is in, before MAILER_DOTENV: `db upgrade` could migrate another database.
    MailerGroup(create_app=_create_app, name="mailer", load_dotenv=False)()
