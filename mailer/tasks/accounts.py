"""Mail to editors: the invitation link (DKIM-signed like every mail, retried on 4xx)."""

from __future__ import annotations

from celery import Task, shared_task

from mailer import i18n
from mailer.accounts import service
from mailer.emails import render_email
from mailer.extensions import db
from mailer.models import EditorInvite
from mailer.tasks.mail import send_mail
from mailer.urls import external_url


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
