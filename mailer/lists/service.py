"""Every change to a mailing list: create, edit, delete. Views and the CLI only call these.

Deleting a list deletes its subscriptions (the subscribers stay, with their other lists),
its subscriber imports, and its digests that are drafts, cancelled or sent: a sent issue
leaves the public archive with its list. It keeps every suppression (they are keyed
hashes of addresses, not per list) and every delivery row (they have no foreign key: the
dashboard's counts of what was sent stay true, and a late bounce finds no digest and is
ignored). A list with a scheduled, sending or paused digest, or with a subscriber import
queued or running, is not deleted (ListBusy).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mailer.extensions import db
from mailer.lists.fields import ListError, ListFields, check
from mailer.models import (
    Digest,
    DigestStatus,
    ImportStatus,
    MailingList,
    SubscriberImport,
    Subscription,
    SubscriptionStatus,
)

# Digests that are going out or will: deleting their list would pull it from under them.
ACTIVE = (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused)


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
class DeletionSummary:
    """What deleting a list takes with it, for the confirmation page and the CLI."""

    confirmed: int
    pending: int
    unsubscribed: int
    sent_digests: int
    other_digests: int  # drafts and cancelled
    active_digests: int  # scheduled, sending, paused: deletion refused
    active_imports: int = 0  # subscriber imports queued or running: deletion refused

    @property
    def busy(self) -> bool:
        return bool(self.active_digests or self.active_imports)

    @property
    def subscribers(self) -> int:
        return self.confirmed + self.pending

    @property
    def needs_confirmation(self) -> bool:
        return any((self.subscribers, self.unsubscribed, self.sent_digests, self.other_digests))


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
    mailing_list.pause_bounce_rate = fields.pause_bounce_rate
    mailing_list.pause_complaint_rate = fields.pause_complaint_rate
    mailing_list.pause_min_sent = fields.pause_min_sent


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
        active_imports=int(
            db.session.scalar(
                select(func.count(SubscriberImport.id)).where(
                    SubscriberImport.list_id == mailing_list.id,
                    SubscriberImport.status.in_((ImportStatus.queued, ImportStatus.running)),
                )
            )
            or 0
        ),
    )


def busy_message(summary: DeletionSummary) -> str:
    """Why a list cannot be deleted now."""
    if summary.active_imports:
        return "A subscriber import into this list is running: wait until it ends."
    return (
        "It has a digest that is scheduled, sending or paused:"
        " cancel it (or let it finish) before deleting the list."
    )


def delete_list(mailing_list: MailingList) -> DeletionSummary:
    """Delete a list and what belongs to it only (module docstring); the caller commits.

    ListBusy, with nothing changed, while one of its digests is scheduled, sending or paused.
    """
    summary = deletion_summary(mailing_list)
    busy = ListBusy(busy_message(summary))
    if summary.busy:
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
