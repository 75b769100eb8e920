"""Mail to editors: the invitation link, and notices of changes to their account's security
(DKIM-signed like every mail, retried on 4xx)."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Task, shared_task

from mailer import clock, i18n
from mailer.accounts import service
from mailer.emails import render_email
from mailer.extensions import db
from mailer.models import Editor, EditorInvite
from mailer.tasks.mail import send_mail
from mailer.tasks.queue import enqueue_after_commit
from mailer.urls import external_url

logger = logging.getLogger(__name__)

# What an editor is told about: their password changed, a second factor enrolled, an owner
# (or the operator) removed their second factor, trusted browsers forgotten (and signed out).
NOTICES = frozenset({"password", "second_factor", "second_factor_reset", "browsers_forgotten"})


@shared_task(name="mailer.send_editor_invite", bind=True, acks_late=True, max_retries=8)
def send_editor_invite(self: Task, invite_id: int) -> None:
    """Mail an open invitation its link (made here: the queue carries only the id)."""
    invitation = db.session.get(EditorInvite, invite_id)
    if invitation is None or not invitation.is_open:
        return
    hours = round(service.invite_max_age().total_seconds() / 3600)
    email = render_email(
        "editor_invite",
        to=invitation.email,
        language=i18n.SOURCE_LANGUAGE,  # editors' mails: the admin's language
        role=invitation.role.value,
        url=external_url("admin_invite.accept", token=service.invite_token(invitation)),
        max_age_hours=hours,
    )
    send_mail(self, email, f"invitation mail {invite_id}")


@shared_task(name="mailer.send_editor_notice", bind=True, acks_late=True, max_retries=8)
def send_editor_notice(self: Task, editor_id: int, event: str, at: str) -> None:
    """Tell the editor their account's security changed ("if it was not you, tell an owner").

    The mail names the change and its time (`at`, ISO 8601 UTC) only: no secret, no address
    of the client, no link (a notice that asks nothing cannot be imitated into a phish).
    """
    editor = db.session.get(Editor, editor_id)
    if editor is None or event not in NOTICES:
        logger.info("editor %s: no %s notice (editor gone or unknown event)", editor_id, event)
        return
    when = datetime.fromisoformat(at)
    email = render_email(
        "editor_notice",
        to=editor.email,
        language=i18n.SOURCE_LANGUAGE,  # editors' mails: the admin's language
        event=event,
        when=f"{when:%d %B %Y, %H:%M} UTC",
    )
    send_mail(self, email, f"{event} notice for editor {editor_id}")


def notify_editor(editor_id: int, event: str) -> bool:
    """Commit, then queue the editor's notice of `event` (one of NOTICES) as of now; False
    (logged) if the queue is down: the change stands, only its mail is lost."""
    if event not in NOTICES:
        raise ValueError(event)
    at = clock.now().isoformat()
    if enqueue_after_commit(send_editor_notice, editor_id, event, at):
        return True
    logger.error("editor %s: %s notice not queued (queue unavailable)", editor_id, event)
    return False
