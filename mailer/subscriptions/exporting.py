"""Subscriber CSV export: one row per subscription, streamed from the database.

The columns are EXPORT_COLUMNS, so an export can be imported again (mailer.subscriptions.
importing reads past the columns it does not keep); cells a spreadsheet would run as a
formula get a leading "'" that the import takes off.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, select

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.subscriptions.csv_format import EXPORT_COLUMNS, escape_cell


def export_query(
    *,
    mailing_list: MailingList | None = None,
    status: SubscriptionStatus | None = None,
    subscriber_ids: Select[Any] | None = None,
) -> Select[*tuple[Any, ...]]:
    """One row per subscription: EXPORT_COLUMNS, in subscription order."""
    query: Select[*tuple[Any, ...]] = (
        select(
            Subscriber.email,
            Subscriber.name,
            Subscriber.language,
            MailingList.slug,
            Subscription.status,
            Subscription.created_at,
            Subscription.confirmed_at,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .order_by(Subscription.id)
    )
    if mailing_list is not None:
        query = query.where(Subscription.list_id == mailing_list.id)
    if status is not None:
        query = query.where(Subscription.status == status)
    if subscriber_ids is not None:
        query = query.where(Subscriber.id.in_(subscriber_ids))
    return query


def export_csv(query: Select[*tuple[Any, ...]], batch: int = 1000) -> Iterator[str]:
    """The CSV text of `query`, a header then one line per row, streamed from the database."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for email, name, language, slug, status, created_at, confirmed_at in db.session.execute(
        query.execution_options(yield_per=batch)
    ):
        writer.writerow(
            [
                escape_cell(email),
                escape_cell(name or ""),
                language,
                slug,
                SubscriptionStatus(status).value,
                created_at.isoformat(),
                confirmed_at.isoformat() if confirmed_at else "",
            ]
        )
        if out.tell() > 64 * 1024:
            yield _drain(out)
    yield _drain(out)


def _drain(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text
