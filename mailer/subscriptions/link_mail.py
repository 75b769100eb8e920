"""Links mailed on request from the preferences page: one-time "download my data" and
"erase me" links, and a fresh preferences link after "sign out all my links" (audit M4)."""

from __future__ import annotations

import logging
import smtplib

from celery import Task, shared_task

from mailer.emails import get_transport, render_email
from mailer.extensions import db
from mailer.models import Subscriber
from mailer.subscriptions import links, service
from mailer.tasks import _retry, _with_verp  # one retry policy and VERP for every mail task
from mailer.urls import external_url

logger = logging.getLogger(__name__)

KINDS = ("data", "erase", "preferences")


def link_url(subscriber: Subscriber, kind: str) -> str:
    """The link a `kind` mail carries: a one-time link, or a new preferences link."""
    if kind == "preferences":
        return external_url("subscriptions.preferences", token=links.preferences_token(subscriber))
    return external_url(f"subscriptions.{kind}_link", token=links.one_time_token(subscriber, kind))


@shared_task(name="mailer.send_link_mail", bind=True, acks_late=True, max_retries=8)
def send_link_mail(self: Task, subscriber_id: int, kind: str) -> None:
    """Mail a subscriber the link they asked for (`kind`: data, erase or preferences)."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if kind not in KINDS or subscriber is None or service.is_suppressed(subscriber.email):
        return
    minutes = round(links.one_time_max_age().total_seconds() / 60)
    email = render_email(
        f"link_{kind}",
        to=subscriber.email,
        url=link_url(subscriber, kind),
        max_age_minutes=minutes,
        unsubscribe_url=external_url(
            "subscriptions.unsubscribe", token=links.unsubscribe_token(subscriber)
        ),
    )
    try:
        get_transport().send(_with_verp(email, subscriber))
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, f"{kind} link mail for subscriber {subscriber_id}")
        return
    logger.info("%s link mail sent for subscriber %s", kind, subscriber_id)
