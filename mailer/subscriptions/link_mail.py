"""Links mailed on request from the preferences page: one-time "download my data" and
"erase me" links, and a fresh preferences link after "sign out all my links" (audit M4).

The task that mails them is `mailer.tasks.mail.send_link_mail`.
"""

from __future__ import annotations

from mailer.models import Subscriber
from mailer.subscriptions import links
from mailer.urls import external_url

KINDS = ("data", "erase", "preferences")


def link_url(subscriber: Subscriber, kind: str) -> str:
    """The link a `kind` mail carries: a one-time link, or a new preferences link."""
    if kind == "preferences":
        return external_url("subscriptions.preferences", token=links.preferences_token(subscriber))
    return external_url(f"subscriptions.{kind}_link", token=links.one_time_token(subscriber, kind))
