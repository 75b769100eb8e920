"""A list's settings as an editor gives them, and their checks (pure: no database)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass

from mailer import controls
from mailer.delivery.headers import has_control_characters
from mailer.digests.schedule import valid_timezone
from mailer.models import MailingList
from mailer.privacy import InvalidAddress, normalise_email

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
SLUG_RULE = "Use 1 to 64 lower-case letters, digits and hyphens, not starting or ending with one."
ONE_LINE = "Use a single line: no line breaks, tabs or other control characters."
CONTROLS = "Remove the control characters (such as NUL) from this field: they cannot be saved."


class ListError(Exception):
    """A change refused; `status` is the HTTP status a page answers it with."""

    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidList(ListError):
    """One or more fields are not acceptable; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ListFields:
    """What an editor sets on a list."""

    name: str
    slug: str
    description: str = ""
    is_public: bool = True
    language: str = "en"
    from_name: str = ""
    reply_to: str = ""
    schedule_weekday: int | None = None
    schedule_hour: int | None = None
    schedule_timezone: str = "UTC"
    send_automatically: bool = False
    # Auto-pause limits (mailer.digests.autopause); None: the site's AUTO_PAUSE_* setting.
    pause_bounce_rate: float | None = None
    pause_complaint_rate: float | None = None
    pause_min_sent: int | None = None


def check(fields: ListFields, languages: Collection[str]) -> ListFields:
    """The fields cleaned (stripped, reply-to normalised); InvalidList with every problem."""
    errors: dict[str, str] = {}
    name, from_name = fields.name.strip(), fields.from_name.strip()
    if not name:
        errors["name"] = "Give the list a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if has_control_characters(fields.name) or controls.has_control_characters(fields.name):
        errors["name"] = ONE_LINE
    if len(from_name) > 200:
        errors["from_name"] = "Keep the From name under 200 characters."
    if has_control_characters(fields.from_name) or controls.has_control_characters(
        fields.from_name
    ):
        errors["from_name"] = ONE_LINE
    if not SLUG.fullmatch(fields.slug):
        errors["slug"] = SLUG_RULE
    if fields.language not in languages:
        errors["language"] = "Choose one of the site's languages."
    reply_to = ""
    if fields.reply_to.strip():
        try:
            reply_to = normalise_email(fields.reply_to)
        except InvalidAddress:
            errors["reply_to"] = "Enter a valid email address, or leave it empty."
        if not reply_to.isascii():  # it goes into a header as it is
            errors["reply_to"] = "Enter an address in plain ASCII letters."
    errors.update(_schedule_errors(fields))
    errors.update(_pause_errors(fields))
    if len(fields.description) > 2000:
        errors["description"] = "Keep the description under 2,000 characters."
    elif controls.has_control_characters(fields.description, multiline=True):
        errors["description"] = CONTROLS
    if errors:
        raise InvalidList(errors)
    weekly = fields.schedule_weekday is not None
    return ListFields(
        name=name,
        slug=fields.slug,
        description=fields.description.strip(),
        is_public=fields.is_public,
        language=fields.language,
        from_name=from_name,
        reply_to=reply_to,
        schedule_weekday=fields.schedule_weekday,
        schedule_hour=fields.schedule_hour if weekly else None,
        schedule_timezone=fields.schedule_timezone,
        send_automatically=fields.send_automatically,
        pause_bounce_rate=fields.pause_bounce_rate,
        pause_complaint_rate=fields.pause_complaint_rate,
        pause_min_sent=fields.pause_min_sent,
    )


MAX_MIN_SENT = 10_000_000


def _pause_errors(fields: ListFields) -> dict[str, str]:
    errors = {}
    for name in ("pause_bounce_rate", "pause_complaint_rate"):
        rate = getattr(fields, name)
        if rate is not None and not (math.isfinite(rate) and 0 <= rate <= 100):
            errors[name] = "Give a percentage from 0 (never pause) to 100, or leave it empty."
    if fields.pause_min_sent is not None and not 1 <= fields.pause_min_sent <= MAX_MIN_SENT:
        errors["pause_min_sent"] = (
            "Give a number of messages from 1 to 10,000,000, or leave it empty."
        )
    return errors


def _schedule_errors(fields: ListFields) -> dict[str, str]:
    errors = {}
    if not valid_timezone(fields.schedule_timezone):
        errors["schedule_timezone"] = "Unknown time zone; use a name like Europe/Berlin."
    if fields.schedule_weekday is not None and not 0 <= fields.schedule_weekday <= 6:
        errors["schedule_weekday"] = "Choose a day of the week."
    elif fields.schedule_weekday is None and fields.schedule_hour is not None:
        errors["schedule_weekday"] = (
            "Choose the day of the weekly digest too: an hour alone sets no schedule."
        )
    if fields.schedule_hour is not None and not 0 <= fields.schedule_hour <= 23:
        errors["schedule_hour"] = "Choose an hour from 0 to 23."
    elif fields.schedule_weekday is not None and fields.schedule_hour is None:
        errors["schedule_hour"] = "Choose the hour of the weekly digest."
    return errors


def fields_of(mailing_list: MailingList) -> ListFields:
    """A list's current settings, to edit some of them."""
    return ListFields(
        name=mailing_list.name,
        slug=mailing_list.slug,
        description=mailing_list.description or "",
        is_public=mailing_list.is_public,
        language=mailing_list.language,
        from_name=mailing_list.from_name or "",
        reply_to=mailing_list.reply_to or "",
        schedule_weekday=mailing_list.schedule_weekday,
        schedule_hour=mailing_list.schedule_hour,
        schedule_timezone=mailing_list.schedule_timezone,
        send_automatically=mailing_list.send_automatically,
        pause_bounce_rate=mailing_list.pause_bounce_rate,
        pause_complaint_rate=mailing_list.pause_complaint_rate,
        pause_min_sent=mailing_list.pause_min_sent,
    )
