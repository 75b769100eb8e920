"""The suppression list: keyed hashes of normalised addresses, never the addresses.

Services flush; callers commit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from mailer.extensions import db
from mailer.models import Suppression, SuppressionReason
from mailer.privacy import InvalidAddress, address_hash, normalise_email
from mailer.subscriptions.csv_format import BadFile

CHUNK = 500


@dataclass
class ImportReport:
    """What a CSV import did: new hashes, ones already listed, and refused rows (line, why)."""

    added: int = 0
    already: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def add(email: str, reason: SuppressionReason = SuppressionReason.manual) -> bool:
    """Suppress an address (raw input: normalised here); False when it already was."""
    digest = address_hash(normalise_email(email))
    if db.session.scalar(select(Suppression.id).where(Suppression.address_hash == digest)):
        return False
    db.session.add(Suppression(address_hash=digest, reason=reason))
    db.session.flush()
    return True


def remove(email: str) -> Suppression | None:
    """Take an address off the list; the removed row (for its reason), or None."""
    digest = address_hash(normalise_email(email))
    row = db.session.scalar(select(Suppression).where(Suppression.address_hash == digest))
    if row is not None:
        db.session.execute(delete(Suppression).where(Suppression.id == row.id))
    return row


def entries(
    reason: SuppressionReason | None = None, limit: int | None = None
) -> Sequence[Suppression]:
    """Suppressions, newest first."""
    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    return db.session.scalars(query.limit(limit)).all()


def counts() -> dict[str, int]:
    """How many suppressions there are per reason."""
    rows = db.session.execute(
        select(Suppression.reason, func.count(Suppression.id)).group_by(Suppression.reason)
    ).all()
    return {SuppressionReason(reason).value: int(n) for reason, n in rows}


def read_csv(data: bytes) -> list[tuple[int, str]]:
    """(line, address) per row: the `email` column when there is a header, else the first.

    Raises BadFile, as the subscriber import does, for a file that is not UTF-8 CSV: read
    with replacement characters, a Latin-1 "é" made the hash of another address.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile("The file is not UTF-8 text; save it as “CSV UTF-8”.") from None
    if "\x00" in text:
        raise BadFile("The file is not a CSV text file.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(n, row) for n, row in enumerate(reader, 1) if row]
    except csv.Error as exc:
        raise BadFile(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0][1]]
    column = 0
    for name in ("email", "address"):
        if name in header:
            column, rows = header.index(name), rows[1:]
            break
    return [(n, row[column] if column < len(row) else "") for n, row in rows]


def import_rows(
    rows: Iterable[tuple[int, str]],
    *,
    reason: SuppressionReason = SuppressionReason.manual,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Suppress every address of `rows`; with refused rows, add nothing unless skip_invalid."""
    report = ImportReport()
    digests: dict[str, None] = {}
    for line, value in rows:
        try:
            digests[address_hash(normalise_email(value))] = None
        except InvalidAddress as exc:
            report.refused.append((line, str(exc) or "not a valid address"))
        if progress is not None:
            progress(1)
    if report.refused and not skip_invalid:
        return report
    wanted = list(digests)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        known = set(
            db.session.scalars(
                select(Suppression.address_hash).where(Suppression.address_hash.in_(chunk))
            )
        )
        report.already += len(known)
        db.session.add_all(
            Suppression(address_hash=d, reason=reason) for d in chunk if d not in known
        )
        report.added += len(chunk) - len(known)
    db.session.flush()
    return report
