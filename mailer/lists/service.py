"""Every change to a mailing list: create, edit, delete. Views and the CLI only call these.

Deleting a list deletes its subscriptions (the subscribers stay, with their other lists),
its subscriber imports, and its digests that are drafts, cancelled or sent: a sent issue
leaves the public archive with its list. It keeps every suppression (they are keyed
hashes of addresses, not per list) and every delivery row (they have no foreign key: the
dashboard's counts of what was sent stay true, and a late bounce finds no digest and is
ignored). A list with a scheduled, sending or paused digest is not deleted (ListBusy).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mailer.delivery.headers import has_control_characters
from mailer.digests.schedule import valid_timezone
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList, Subscription, SubscriptionStatus
from mailer.privacy import InvalidAddress, normalise_email

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
SLUG_RULE = "Use 1 to 64 lower-case letters, digits and hyphens, not starting or ending with one."
ONE_LINE = "Use a single line: no line breaks, tabs or other control characters."
# Digests that are going out or will: deleting their list would pull it from under them.
ACTIVE = (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused)


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


class SlugTaken(ListError):
    status = 409

    def __init__(self, slug: str) -> None:
        super().__init__(f"Another list already has the slug {slug!r}.", "slug")


class SlugChangeUnconfirmed(ListError):
    def __init__(self, old: str, new: str) -> None:
        super().__init__(
            f"Changing the slug from {old!r} to {new!r} breaks every sign-up form that names"
            f" {old!r} (article pages' embedded forms): update them, then confirm the change.",
            "confirm_slug_change",
        )


class ListBusy(ListError):
    status = 409


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


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting a list takes with it, for the confirmation page and the CLI."""

    confirmed: int
    pending: int
    unsubscribed: int
    sent_digests: int
    other_digests: int  # drafts and cancelled
    active_digests: int  # scheduled, sending, paused: deletion refused

    @property
    def subscribers(self) -> int:
        return self.confirmed + self.pending

    @property
    def needs_confirmation(self) -> bool:
        return any((self.subscribers, self.unsubscribed, self.sent_digests, self.other_digests))


def check(fields: ListFields, languages: Collection[str]) -> ListFields:
    """The fields cleaned (stripped, reply-to normalised); InvalidList with every problem."""
    errors: dict[str, str] = {}
    name, from_name = fields.name.strip(), fields.from_name.strip()
    if not name:
        errors["name"] = "Give the list a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if has_control_characters(fields.name):
        errors["name"] = ONE_LINE
    if len(from_name) > 200:
        errors["from_name"] = "Keep the From name under 200 characters."
    if has_control_characters(fields.from_name):
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
    if len(fields.description) > 2000:
        errors["description"] = "Keep the description under 2,000 characters."
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
    )


def _schedule_errors(fields: ListFields) -> dict[str, str]:
    errors = {}
    if not valid_timezone(fields.schedule_timezone):
        errors["schedule_timezone"] = "Unknown time zone; use a name like Europe/Berlin."
    if fields.schedule_weekday is not None and not 0 <= fields.schedule_weekday <= 6:
        errors["schedule_weekday"] = "Choose a day of the week."
    if fields.schedule_hour is not None and not 0 <= fields.schedule_hour <= 23:
        errors["schedule_hour"] = "Choose an hour from 0 to 23."
    elif fields.schedule_weekday is not None and fields.schedule_hour is None:
        errors["schedule_hour"] = "Choose the hour of the weekly digest."
    return errors


def create_list(fields: ListFields, languages: Collection[str]) -> MailingList:
    """A new list (flushed; the caller commits). InvalidList, SlugTaken."""
    clean = check(fields, languages)
    mailing_list = MailingList()
    _apply(mailing_list, clean)
    _save(mailing_list, clean.slug)
    return mailing_list


def update_list(
    mailing_list: MailingList,
    fields: ListFields,
    languages: Collection[str],
    slug_change_confirmed: bool = False,
) -> MailingList:
    """Change a list (flushed; the caller commits). InvalidList, SlugTaken, SlugChangeUnconfirmed.

    A slug is what sign-up forms on article pages post: a new one breaks them until they
    are updated, so it changes only when the editor confirms they did.
    """
    clean = check(fields, languages)
    if clean.slug != mailing_list.slug:
        _refuse_taken(clean.slug)
        if not slug_change_confirmed:
            raise SlugChangeUnconfirmed(mailing_list.slug, clean.slug)
    _apply(mailing_list, clean)
    _save(mailing_list, clean.slug)
    return mailing_list


def _refuse_taken(slug: str) -> None:
    if db.session.scalar(select(MailingList.id).where(MailingList.slug == slug)) is not None:
        raise SlugTaken(slug)


def _save(mailing_list: MailingList, slug: str) -> None:
    """Flush in a savepoint: a slug taken meanwhile (unique index) leaves the session usable."""
    if mailing_list.id is None:
        _refuse_taken(slug)
    try:
        with db.session.begin_nested():
            db.session.add(mailing_list)
    except IntegrityError:
        raise SlugTaken(slug) from None


def _apply(mailing_list: MailingList, fields: ListFields) -> None:
    mailing_list.name = fields.name
    mailing_list.slug = fields.slug
    mailing_list.description = fields.description
    mailing_list.is_public = fields.is_public
    mailing_list.language = fields.language
    mailing_list.from_name = fields.from_name or None
    mailing_list.reply_to = fields.reply_to or None
    mailing_list.schedule_weekday = fields.schedule_weekday
    mailing_list.schedule_hour = fields.schedule_hour
    mailing_list.schedule_timezone = fields.schedule_timezone
    mailing_list.send_automatically = fields.send_automatically


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
    )


def find(slug: str) -> MailingList | None:
    return db.session.scalar(select(MailingList).where(MailingList.slug == slug))


def deletion_summary(mailing_list: MailingList) -> DeletionSummary:
    subs = dict(
        db.session.execute(
            select(Subscription.status, func.count(Subscription.id))
            .where(Subscription.list_id == mailing_list.id)
            .group_by(Subscription.status)
        ).all()
    )
    digests = dict(
        db.session.execute(
            select(Digest.status, func.count(Digest.id))
            .where(Digest.list_id == mailing_list.id)
            .group_by(Digest.status)
        ).all()
    )
    return DeletionSummary(
        confirmed=subs.get(SubscriptionStatus.confirmed, 0),
        pending=subs.get(SubscriptionStatus.pending, 0),
        unsubscribed=subs.get(SubscriptionStatus.unsubscribed, 0),
        sent_digests=digests.get(DigestStatus.sent, 0),
        other_digests=digests.get(DigestStatus.draft, 0) + digests.get(DigestStatus.cancelled, 0),
        active_digests=sum(digests.get(s, 0) for s in ACTIVE),
    )


def delete_list(mailing_list: MailingList) -> DeletionSummary:
    """Delete a list and what belongs to it only (module docstring); the caller commits.

    ListBusy, with nothing changed, while one of its digests is scheduled, sending or paused.
    """
    summary = deletion_summary(mailing_list)
    busy = ListBusy(
        f"The list {mailing_list.slug!r} has a digest that is scheduled, sending or paused:"
        " cancel it (or let it finish) before deleting the list."
    )
    if summary.active_digests:
        raise busy
    try:
        with db.session.begin_nested():
            # Only settled digests, by status in the statement: one that a worker claims at
            # this moment stays, and the list's delete below then fails on its foreign key.
            db.session.execute(
                delete(Digest)
                .where(Digest.list_id == mailing_list.id, Digest.status.not_in(ACTIVE))
                .execution_options(synchronize_session=False)
            )
            db.session.delete(mailing_list)
            db.session.flush()
    except IntegrityError:
        raise busy from None
    return summary
