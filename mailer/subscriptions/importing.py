"""Subscriber CSV import, and adding one subscriber by hand (export: exporting.py; the
CSV file itself: csv_format.py).

Services flush; callers commit.

An import validates every row like the sign-up form, reports each refused row with its line
and a reason, and writes the valid ones in the caller's transaction. It keeps only the
address, the name and the language: no extra column, no IP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailer import clock
from mailer.controls import has_control_characters
from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from mailer.privacy import InvalidAddress, address_hash, normalise_email
from mailer.subscriptions import address_cap
from mailer.subscriptions.csv_format import (  # the file's side, re-exported for callers
    COLUMNS,
    EXPORT_COLUMNS,
    BadFile,
    FileTooLarge,
    read_csv,
    unescape_cell,
)

__all__ = [
    "COLUMNS",
    "EXPORT_COLUMNS",
    "BadFile",
    "FileTooLarge",
    "ImportReport",
    "Row",
    "add_subscriber",
    "import_csv",
    "import_records",
    "import_rows",
    "list_language",
    "read_csv",
    "validate",
]

MAX_NAME = 100
CHUNK = 500


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str | None
    language: str


@dataclass
class ImportReport:
    """What an import did: rows imported, already subscribed, refused (line, why)."""

    imported: int = 0
    already: int = 0  # confirmed, or still to confirm: on every list already
    already_pending: int = 0  # of those, still to confirm on one list or more
    refused: list[tuple[int, str]] = field(default_factory=list)
    # New pending subscribers to mail a confirmation link to, after the commit.
    to_confirm: list[int] = field(default_factory=list)


# --- reading and validating ------------------------------------------------------------------


def validate(
    records: Sequence[tuple[int, dict[str, str]]],
    default_language: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Row], list[tuple[int, str]]]:
    """Rows that pass the sign-up form's checks, and the refused ones (line, why)."""
    languages = current_app.config["LANGUAGES"]
    valid: list[Row] = []
    refused: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, (line, cells) in enumerate(records, 1):
        checked = _check(line, cells, seen, default_language, languages)
        if isinstance(checked, Row):
            valid.append(checked)
        else:
            refused.append((line, checked))
        if progress is not None and (index % CHUNK == 0 or index == len(records)):
            progress(index % CHUNK or CHUNK)
    return valid, refused


def _check(
    line: int, cells: dict[str, str], seen: dict[str, int], default_language: str, languages: Any
) -> Row | str:
    """The valid row, or why it is refused (never quoting an address: reports are kept)."""
    if "" in cells:
        return cells[""]
    raw_email = cells.get("email", "")
    try:
        if has_control_characters(raw_email):  # stripping would hide a trailing one
            raise InvalidAddress("control character")
        email = normalise_email(raw_email)
    except InvalidAddress:
        return "invalid address"
    if email in seen:
        return f"duplicate of line {seen[email]}"
    seen[email] = line
    name = unescape_cell(cells.get("name", "").strip()) or None
    language = cells.get("language", "").strip().lower() or default_language
    if name is not None and len(name) > MAX_NAME:
        return f"name longer than {MAX_NAME} characters"
    if has_control_characters(cells.get("name", "")):  # as the sign-up form refuses them
        return "name contains a control character"
    if language not in languages:
        # Quote a language code, not whatever else was in the cell (an address, say).
        if language[:16].replace("-", "").isalnum():
            return f"unknown language “{language[:16]}”"
        return "unknown language"
    return Row(line, email, name, language)


# --- writing ---------------------------------------------------------------------------------


def import_rows(
    rows: Sequence[Row],
    lists: Sequence[MailingList],
    *,
    confirmed: bool,
    source: str,
    report: ImportReport | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Subscribe valid rows to `lists`: pending (double opt-in) or, with `confirmed`, confirmed.

    Suppressed addresses and people who unsubscribed from one of the lists are refused; people
    already confirmed on every list are counted and left as they are, and an existing
    subscriber's name and language are theirs to change, not the importer's.
    """
    report = report if report is not None else ImportReport()
    to_confirm: list[Subscriber] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        hashes = {row.email: address_hash(row.email) for row in chunk}
        suppressed = set(
            db.session.scalars(
                select(Suppression.address_hash).where(
                    Suppression.address_hash.in_(hashes.values())
                )
            )
        )
        existing = {
            s.email: s
            for s in db.session.scalars(
                select(Subscriber)
                .where(Subscriber.email.in_(hashes))
                .options(selectinload(Subscriber.subscriptions))
            )
        }
        for row in chunk:
            if hashes[row.email] in suppressed:
                report.refused.append((row.line, "suppressed"))
                continue
            pending = _import_one(row, existing.get(row.email), lists, confirmed, source, report)
            if pending is not None:
                to_confirm.append(pending)
        db.session.flush()
        if progress is not None:
            progress(len(chunk))
    report.to_confirm.extend(s.id for s in to_confirm)
    report.refused.sort()
    return report


def _import_one(
    row: Row,
    subscriber: Subscriber | None,
    lists: Sequence[MailingList],
    confirmed: bool,
    source: str,
    report: ImportReport,
) -> Subscriber | None:
    """Import one row; the subscriber when it needs a confirmation mail."""
    current = {s.list_id: s for s in subscriber.subscriptions} if subscriber else {}
    left = [lst.slug for lst in lists if _status(current, lst) == SubscriptionStatus.unsubscribed]
    if left:
        report.refused.append((row.line, f"unsubscribed earlier from {', '.join(left)}"))
        return None
    todo = [lst for lst in lists if _status(current, lst) != SubscriptionStatus.confirmed]
    if not todo:
        report.already += 1
        return None
    if not confirmed and all(_status(current, lst) is not None for lst in todo):
        assert subscriber is not None  # it has subscriptions
        return _already_pending(subscriber, report)
    if not confirmed and not address_cap.take_slot(
        address_hash(row.email), address_cap.SIGNUP, subscriber.id if subscriber else None
    ):
        report.refused.append((row.line, "a confirmation mail went to this address recently"))
        return None
    if subscriber is None:
        subscriber = Subscriber(
            email=row.email,
            address_hash=address_hash(row.email),
            name=row.name,
            language=row.language,
        )
        db.session.add(subscriber)
    now = utcnow()
    for lst in todo:
        sub = current.get(lst.id)
        if sub is None:
            sub = Subscription(mailing_list=lst, list_id=lst.id)
            subscriber.subscriptions.append(sub)
        if confirmed:
            sub.status, sub.confirmed_at = SubscriptionStatus.confirmed, now
    subscriber.consents.append(
        ConsentRecord(
            # Confirmed: consent given elsewhere, to wording that is not ours.
            action="import" if confirmed else "signup",
            consent_version="external" if confirmed else current_app.config["CONSENT_VERSION"],
            source=source[:64],
            lists=",".join(lst.slug for lst in todo)[:500],
            ip_hash=None,
        )
    )
    report.imported += 1
    if confirmed:
        return None
    subscriber.confirm_requested_at = subscriber.confirm_queued_at = clock.now()
    return subscriber


def _already_pending(subscriber: Subscriber, report: ImportReport) -> Subscriber | None:
    """Someone still to confirm every list of the import: already subscribed. As when they
    sign up again by the form, their link goes again if the per-address cap allows; the
    subscriber when it does."""
    report.already += 1
    report.already_pending += 1
    if not address_cap.take_slot(address_hash(subscriber.email), address_cap.SIGNUP, subscriber.id):
        return None  # a confirmation mail went to them recently: not another one yet
    subscriber.confirm_requested_at = subscriber.confirm_queued_at = clock.now()
    return subscriber


def _status(current: dict[int, Subscription], lst: MailingList) -> SubscriptionStatus | None:
    sub = current.get(lst.id)
    return sub.status if sub is not None else None


def import_csv(
    data: bytes,
    mailing_list: MailingList,
    *,
    confirmed: bool,
    source: str,
) -> ImportReport:
    """Read, validate and import a CSV into one list; raise BadFile for a refused file."""
    records = read_csv(data, int(current_app.config["SUBSCRIBER_IMPORT_MAX_BYTES"]))
    return import_records(records, mailing_list, confirmed=confirmed, source=source)


def import_records(
    records: Sequence[tuple[int, dict[str, str]]],
    mailing_list: MailingList,
    *,
    confirmed: bool,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and import the records of read_csv into one list."""
    if not records:
        raise BadFile("The file has a header but no rows.")
    rows, refused = validate(records, list_language(mailing_list))
    if progress is not None and refused:
        progress(len(refused))
    report = ImportReport(refused=refused)
    return import_rows(
        rows, [mailing_list], confirmed=confirmed, source=source, report=report, progress=progress
    )


def list_language(mailing_list: MailingList) -> str:
    """The language of rows that give none: the list's, if the site offers it."""
    if mailing_list.language in current_app.config["LANGUAGES"]:
        return mailing_list.language
    return str(current_app.config["DEFAULT_LANGUAGE"])


def add_subscriber(
    email: str,
    *,
    name: str | None,
    language: str,
    lists: Sequence[MailingList],
    consented: bool,
    source: str,
) -> ImportReport:
    """An editor adds one person (already-normalised address): one row imported into `lists`."""
    row = Row(line=1, email=email, name=name, language=language)
    return import_rows([row], lists, confirmed=consented, source=source)
