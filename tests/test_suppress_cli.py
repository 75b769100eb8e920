"""`mailer suppress add/remove/list/import`: keyed hashes only, imports all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
