"""Scrubbed error texts never outgrow their VARCHAR(500) columns (PostgreSQL refuses that).

Scrubbing can lengthen a text: "[address]" and "[local-part]" are longer than a short
address or local part. A bounce diagnostic already cut to 500 characters, or an error text
stored before the scrubbing existed, must still fit after it, at run time and in the
migration that scrubs old rows. Run with TEST_DATABASE_URL for PostgreSQL's check.
"""

from __future__ import annotations

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select, text

from mailer.bounces import service as bounces
from mailer.bounces.parse import DIAGNOSTIC_LENGTH
from mailer.extensions import db
from mailer.models import BounceEvent, Delivery
from mailer.redaction import scrub
from tests.bounce_helpers import bounce, sent_digest

# What Gmail-like servers say, naming the mailbox again and again; "email" and "mailbox"
# hold the local part "mail" inside words.
CHATTY = "mailbox <{local}> unknown, {local} does not exist, check the email address; "


def test_a_local_part_is_scrubbed_only_as_a_whole_word() -> None:
    scrubbed = scrub("550 <mail>: no email for mail; mailbox mail.", "mail@example.org")
    assert scrubbed == "550 <[local-part]>: no email for [local-part]; mailbox [local-part]."


def test_a_long_bounce_diagnostic_is_stored_whole_after_scrubbing(app: Flask) -> None:
    reader, verp = next(iter(sent_digest(app, n=1).items()))
    local = reader.partition("@")[0]
    raw = bounce("postfix_hard.eml", verp, reader).replace(
        b"Recipient address rejected: User\r\n    unknown in virtual mailbox table",
        CHATTY.format(local=local).encode() * 12,
    )
    with app.app_context():
        event = bounces.record(raw, [verp])
        db.session.commit()
        assert event is not None and event.attributed and event.status == "5.1.1"
        stored = db.session.scalar(select(BounceEvent.diagnostic))
        assert stored is not None and len(stored) == DIAGNOSTIC_LENGTH
        assert local not in stored and "[local-part]" in stored and "email" in stored


def insert_old_rows(rows: int) -> None:
    """Rows as 0007-era code stored them: str(exc)[:480] and diagnostics cut to 500."""
    error = ("{'mail@example.org': (550, b'5.1.1 " + CHATTY.format(local="mail") * 9)[:480]
    diagnostic = ("550 5.1.1 " + "<a@b.cd> " * 60)[:DIAGNOSTIC_LENGTH]
    db.session.execute(
        text(
            "INSERT INTO subscriber (id, uid, email, language, created_at) "
            "VALUES (1, 'u1', 'mail@example.org', 'en', CURRENT_TIMESTAMP)"
        )
    )
    db.session.execute(
        text(
            "INSERT INTO delivery (id, digest_id, subscriber_id, status, attempts, smtp_code,"
            " error, created_at) VALUES (:i, :i, 1, 'failed', 1, 550, :e, CURRENT_TIMESTAMP)"
        ),
        [{"i": i, "e": error} for i in range(1, rows + 1)],
    )
    db.session.execute(
        text(
            "INSERT INTO bounce_event (id, message_hash, kind, attributed, diagnostic,"
            " received_at, created_at) VALUES (:i, :h, 'hard', false, :d,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        [{"i": i, "h": f"h{i}", "d": diagnostic} for i in range(1, rows + 1)],
    )
    db.session.commit()


def test_the_migration_keeps_scrubbed_texts_within_their_columns(app: Flask) -> None:
    rows = 2345  # more than one batch of the migration
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0007")
        insert_old_rows(rows)
        upgrade()
        db.session.remove()
        errors = db.session.scalars(select(Delivery.error)).all()
        assert len(errors) == rows
        for error in errors:
            assert error is not None and len(error) <= 500
            assert "mail@" not in error and "<mail>" not in error and "<[local-part]>" in error
        diagnostics = db.session.scalars(select(BounceEvent.diagnostic)).all()
        assert len(diagnostics) == rows
        for diagnostic in diagnostics:
            assert diagnostic is not None and len(diagnostic) <= DIAGNOSTIC_LENGTH
            assert "a@b.cd" not in diagnostic and "<[address]>" in diagnostic
        db.session.remove()


def test_no_piece_of_the_local_part_survives_where_the_text_is_cut(app: Flask) -> None:
    """The cut to the column comes after the scrub: cut first, "<reader12" would stay."""
    reader, verp = next(iter(sent_digest(app, n=1).items()))
    local = reader.partition("@")[0]
    with app.app_context():
        for pad in range(len(local) + 3):
            # Puts the local part across the cut at 500: "550 5.1.1 <[address]>: xxx… <local"
            filler = "x" * (DIAGNOSTIC_LENGTH - len("550 5.1.1 <[address]>: ") - len(local) + pad)
            raw = (
                bounce("postfix_hard.eml", verp, reader)
                .replace(
                    b"Recipient address rejected: User\r\n    unknown in virtual mailbox table",
                    f"{filler} <{local}> unknown".encode(),
                )
                .replace(b"4Xk2Qw1Zz9z9vCH", f"pad{pad}".encode())
            )
            event = bounces.record(raw, [verp])
            db.session.commit()
            assert event is not None and event.diagnostic is not None
            tail = event.diagnostic.rsplit(" ", 1)[-1].lstrip("<")
            assert not (len(tail) >= 2 and local.startswith(tail)), (pad, event.diagnostic[-30:])
