"""`mailer suppress add/remove/list/import`: keyed hashes only, imports all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import Suppression, SuppressionReason
from mailer.privacy import address_hash
from tests.bounce_helpers import suppression


def total(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(Suppression.id))) or 0)


def test_add_list_remove(app: Flask, runner: Any) -> None:
    added = runner.invoke(args=["suppress", "add", "  Jane@Example.ORG "])
    assert added.exit_code == 0 and "suppressed" in added.output
    assert suppression(app, "jane@example.org") == SuppressionReason.manual
    again = runner.invoke(args=["suppress", "add", "jane@example.org"])
    assert "already suppressed" in again.output
    listed = runner.invoke(args=["suppress", "list"])
    assert listed.exit_code == 0
    with app.app_context():
        assert address_hash("jane@example.org")[:12] in listed.output
    assert "jane" not in listed.output.lower() and "@" not in listed.output
    assert "manual" in listed.output and "1 shown" in listed.output
    removed = runner.invoke(args=["suppress", "remove", "jane@example.org"])
    assert removed.exit_code == 0 and "manual" in removed.output
    assert suppression(app, "jane@example.org") is None
    missing = runner.invoke(args=["suppress", "remove", "jane@example.org"])
    assert missing.exit_code == 1 and "not on the suppression list" in missing.output
    bad = runner.invoke(args=["suppress", "add", "not-an-address"])
    assert bad.exit_code == 1 and "Not a valid address" in bad.output


def test_import_is_all_or_nothing_and_reports_refused_rows(
    app: Flask, runner: Any, tmp_path: Path
) -> None:
    runner.invoke(args=["suppress", "add", "old@example.org"])
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "email,note\na@example.org,x\nOLD@example.org,y\nnonsense,z\nb@example.org,\n"
        "a@example.org,dup\n"
    )
    refused = runner.invoke(args=["suppress", "import", str(csv_file)])
    assert refused.exit_code == 1
    assert "line 4 refused" in refused.output and "nothing imported" in refused.output
    assert total(app) == 1
    done = runner.invoke(args=["suppress", "import", str(csv_file), "--skip-invalid"])
    assert done.exit_code == 0, done.output
    assert "added 2, already suppressed 1, refused 1" in done.output
    assert total(app) == 3
    assert suppression(app, "b@example.org") == SuppressionReason.manual


def test_import_without_a_header_uses_the_first_column(
    app: Flask, runner: Any, tmp_path: Path
) -> None:
    csv_file = tmp_path / "plain.csv"
    csv_file.write_text("c@example.org\nd@example.org\n")
    result = runner.invoke(args=["suppress", "import", str(csv_file), "--reason", "hard_bounce"])
    assert result.exit_code == 0 and "added 2" in result.output
    assert suppression(app, "d@example.org") == SuppressionReason.hard_bounce


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Before: "line 1 refused: An email address must have an @-sign.", or with a
        # Latin-1 "é" in an address, the hash of another address stored without a word.
        (b"\xff\xfeu\x00s\x00", "The file is not UTF-8 text; save it as “CSV UTF-8”."),
        (b"email\njos\xe9@example.org\n", "The file is not UTF-8 text"),
        (b"email\na@example.org\x00\n", "The file is not a CSV text file."),
        (b'email\n"' + b"a" * 200_000 + b'@example.org"\n', "The file is not valid CSV"),
    ],
)
def test_import_of_a_file_that_is_not_utf8_csv_says_so(
    app: Flask, runner: Any, tmp_path: Path, content: bytes, message: str
) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_bytes(content)
    for extra in ([], ["--skip-invalid"]):
        result = runner.invoke(args=["suppress", "import", str(csv_file), *extra])
        assert result.exit_code == 1, result.output
        assert f"Error: Nothing imported: {message}" in result.output
        assert "refused" not in result.output and "Traceback" not in result.output
    assert total(app) == 0


def test_import_counts_refused_rows_in_words(app: Flask, runner: Any, tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("email\nnonsense\na@example.org\n")
    result = runner.invoke(args=["suppress", "import", str(one)])
    assert "Error: 1 row refused; nothing imported" in result.output  # not "1 rows"
    two = tmp_path / "two.csv"
    two.write_text("email\nnonsense\nrubbish\n")
    result = runner.invoke(args=["suppress", "import", str(two)])
    assert "Error: 2 rows refused; nothing imported" in result.output
