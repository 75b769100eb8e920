"""`mailer editors reset-2fa EMAIL`: an operator's way back in for an editor who lost the phone."""

from __future__ import annotations

import click
from flask.cli import AppGroup

editors_group = AppGroup("editors", help="Editor accounts: reset a second factor.")


@editors_group.command("reset-2fa")
@click.argument("email")
def reset_2fa_command(email: str) -> None:
    """Remove an editor's second factor and recovery codes and end their sessions.

    With ADMIN_2FA=required they enrol again at their next sign-in.
    """
    from mailer.accounts import totp
    from mailer.admin.auth import find_editor
    from mailer.dev.redis_state import require_redis
    from mailer.extensions import db
    from mailer.tasks.accounts import notify_editor

    require_redis()  # the editor is told by mail
    editor = find_editor(email)
    if editor is None:
        raise click.ClickException("There is no editor with that address.")
    totp.reset(editor)
    db.session.commit()
    click.echo(f"editor {editor.id}: second factor and recovery codes removed, every session ended")
    if not notify_editor(editor.id, "second_factor_reset"):
        click.echo("The queue is unavailable: the editor was not told by mail.", err=True)
