"""Mail tasks: one mail to one subscriber (confirmation, already subscribed, asked-for links).

Each loads its row by id and hands the rendered mail to the transport, which DKIM-signs it
when DKIM_* is set; a transient SMTP failure is retried with back-off.
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
from collections.abc import Iterable
from datetime import timedelta

from celery import Task, shared_task
from celery.signals import worker_process_shutdown

from mailer import clock
from mailer.delivery import Email
from mailer.delivery.dkim import configured_signer
from mailer.delivery.errors import describe, sanitized
from mailer.delivery.smtp import close_all as close_smtp_connections
from mailer.delivery.smtp import smtp_code
from mailer.emails import get_transport, render_email
from mailer.extensions import db
from mailer.models import Subscriber
from mailer.privacy import address_hash
from mailer.subscriptions import links, service
from mailer.subscriptions.link_mail import KINDS, link_url
from mailer.tasks.queue import enqueue_after_commit
from mailer.urls import external_url
from mailer.verp import confirmation_verp_address

logger = logging.getLogger(__name__)

# Transient SMTP trouble (4xx, connection refused or dropped): retry with back-off.
TRANSIENT = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)


def _is_transient(exc: smtplib.SMTPException | OSError) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    code = smtp_code(exc)
    return code is not None and 400 <= code < 500


def retry_or_log(task: Task, exc: smtplib.SMTPException | OSError, what: str) -> None:
    """Retry a transient SMTP failure with back-off; log a permanent one.

    `what` names ids only, and the error is logged (and handed to Celery, which logs it
    too) by its class, code and enhanced status: smtplib's exceptions carry the recipient.
    """
    if _is_transient(exc) and task.request.retries < (task.max_retries or 0):
        countdown = min(600, 5 * 2**task.request.retries)
        logger.warning(
            "%s: transient SMTP error (%s), retry in %ss", what, describe(exc), countdown
        )
        raise task.retry(exc=sanitized(exc), countdown=countdown)
    logger.error("%s failed: %s", what, describe(exc))


def send_mail(task: Task, email: Email, what: str) -> bool:
    """Send one mail, DKIM-signed when DKIM_* is set; False if it failed (retried or logged)."""
    data = email.as_bytes()
    signer = configured_signer()
    if signer is not None:
        data = signer.sign(data)
    return send_data(task, email.envelope_sender, email.to, data, what)


def send_data(task: Task, envelope_from: str, to: str, data: bytes, what: str) -> bool:
    """Send one serialized message; False if it failed (retried, or logged when permanent)."""
    try:
        get_transport().send_raw(envelope_from, to, data)
    except (smtplib.SMTPException, OSError) as exc:
        retry_or_log(task, exc, what)
        return False
    logger.info("%s sent", what)
    return True


def with_verp(email: Email, subscriber: Subscriber) -> Email:
    """The mail with a signed envelope sender naming the subscriber, so a bounce finds them."""
    verp = confirmation_verp_address(subscriber.id, address_hash(subscriber.email))
    return dataclasses.replace(email, envelope_from=verp)


@worker_process_shutdown.connect
def _close_smtp(**_kwargs: object) -> None:
    close_smtp_connections()  # say QUIT rather than drop the kept connection


@shared_task(name="mailer.send_confirmation", bind=True, acks_late=True, max_retries=8)
def send_confirmation(self: Task, subscriber_id: int) -> None:
    """Mail the confirmation link for a subscriber's pending subscriptions, once per request.

    Only a request that took a slot of the per-address cap has `confirm_requested_at`, and
    once its mail is sent (`confirm_sent_at` after it) a re-run or a sweep sends nothing.
    """
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or not service.may_confirm(subscriber.email):
        return
    requested, sent = subscriber.confirm_requested_at, subscriber.confirm_sent_at
    if requested is None or (sent is not None and sent >= requested):
        return  # no request, or its mail went out already
    list_ids = service.pending_list_ids(subscriber)
    if not list_ids:
        return  # confirmed meanwhile, or unsubscribed: nothing to confirm
    lists = [s.mailing_list for s in subscriber.subscriptions if s.list_id in list_ids]
    token = links.confirm_token(subscriber, list_ids)
    email = render_email(
        "confirm",
        to=subscriber.email,
        language=subscriber.pending_language or subscriber.language,  # the form's choice
        lists=lists,
        confirm_url=external_url("subscriptions.confirm", token=token),
        max_age_days=_days(service.confirm_max_age()),
    )
    what = f"confirmation mail for subscriber {subscriber_id}"
    if send_mail(self, with_verp(email, subscriber), what):
        subscriber.confirm_sent_at = clock.now()
        db.session.commit()


def _days(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 86400))


def enqueue_confirmations(subscriber_ids: Iterable[int]) -> int:
    """Queue a confirmation mail per subscriber; if the queue is down, leave them to the sweeper."""
    queued = 0
    for subscriber_id in subscriber_ids:
        if enqueue_after_commit(send_confirmation, subscriber_id):
            queued += 1
        else:
            service.mark_not_queued(subscriber_id)
            db.session.commit()
    return queued


@shared_task(name="mailer.send_already_subscribed", bind=True, acks_late=True, max_retries=8)
def send_already_subscribed(self: Task, subscriber_id: int) -> None:
    """Tell a confirmed subscriber who signed up again where to manage their subscription."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or service.is_suppressed(subscriber.email):
        return
    email = render_email(
        "already_subscribed",
        to=subscriber.email,
        language=subscriber.language,
        subscriber=subscriber,
        preferences_url=external_url(
            "subscriptions.preferences", token=links.preferences_token(subscriber)
        ),
        unsubscribe_url=external_url(
            "subscriptions.unsubscribe", token=links.unsubscribe_token(subscriber)
        ),
    )
    what = f"already-subscribed mail for subscriber {subscriber_id}"
    send_mail(self, with_verp(email, subscriber), what)


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
        language=subscriber.language,
        url=link_url(subscriber, kind),
        max_age_minutes=minutes,
        unsubscribe_url=external_url(
            "subscriptions.unsubscribe", token=links.unsubscribe_token(subscriber)
        ),
    )
    send_mail(
        self, with_verp(email, subscriber), f"{kind} link mail for subscriber {subscriber_id}"
    )
