"""Operator commands: create-editor, demo, digest control, and the scheduled-digest job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.admin.auth import authenticate
from mailer.extensions import db
from mailer.models import Article, Digest, DigestStatus, Editor, MailingList
from mailer.tasks import send_scheduled_digests
from tests.conftest import queued_tasks


def test_create_editor_reads_the_password_from_stdin(app: Flask, runner: Any) -> None:
    weak = runner.invoke(
        args=["create-editor", "ed@example.org", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    ok = runner.invoke(
        args=["create-editor", "Ed@Example.org", "--password-stdin"],
        input="a long enough passphrase\n",
    )
    assert ok.exit_code == 0, ok.output
    with app.app_context():
        assert authenticate("ed@example.org", "a long enough passphrase") is not None
        assert authenticate("ed@example.org", "short") is None


@pytest.mark.parametrize("address", ["notanemail", "ed@", "ed@example..org", " "])
def test_create_editor_refuses_what_is_not_an_address(
    app: Flask, runner: Any, address: str
) -> None:
    """Before, `create-editor notanemail` made an owner with that address."""
    result = runner.invoke(
        args=["create-editor", address, "--password-stdin"], input="a long enough passphrase\n"
    )
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value for 'EMAIL': Not a valid address" in result.output
    asked = runner.invoke(args=["create-editor", address])  # refused before the password prompt
    assert asked.exit_code == 2 and "Password" not in asked.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Editor.id))) == 0


def test_demo_loads_articles_and_a_draft_digest_once(app: Flask, runner: Any) -> None:
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert ", 1 draft digest, " in first.output, first.output  # not "1 draft digests"
    second = runner.invoke(args=["demo"])
    assert "0 lists, 0 articles, 0 draft digests, 0 demo readers added" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Article.id))) >= 3
        digest = db.session.scalar(select(Digest))
        assert digest is not None and digest.status == DigestStatus.draft
        assert len(digest.items) >= 3 and digest.intro


def test_digest_control_of_a_draft_is_refused_clearly(app: Flask, runner: Any) -> None:
    runner.invoke(args=["demo"])
    result = runner.invoke(args=["digest", "pause", "1"])
    assert result.exit_code == 1
    assert "This digest is a draft: only a sending digest can be paused." in result.output
    resumed = runner.invoke(args=["digest", "resume", "1"])
    assert "This digest is a draft: only a paused digest can be resumed." in resumed.output
    cancelled = runner.invoke(args=["digest", "cancel", "1"])
    assert (
        "This digest is a draft: only a scheduled, sending or paused digest can be cancelled."
        in cancelled.output
    )
    assert runner.invoke(args=["digest", "status", "99"]).exit_code == 1
    missing = runner.invoke(args=["digest", "send", "--list", "nope"])
    assert missing.exit_code == 1 and "No list with the slug" in missing.output


def test_the_weekly_job_makes_and_starts_the_digest_when_its_slot_has_come(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_weekday, weekly.schedule_hour = now.weekday(), now.hour
        weekly.schedule_timezone, weekly.send_automatically = "UTC", True
        db.session.add(
            Article(
                guid="new",
                link="https://news.example.org/new",
                title="New",
                published_at=now - timedelta(hours=2),
            )
        )
        db.session.commit()
        assert send_scheduled_digests() == 1
        digest = db.session.scalar(select(Digest))
        assert digest is not None and digest.status == DigestStatus.scheduled
        assert send_scheduled_digests() == 1  # not started yet: a worker would claim it once
    assert queued_tasks(app, "celery") == [("mailer.start_digest", [digest.id])] * 2


def test_an_empty_week_makes_nothing(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_weekday, weekly.schedule_hour = now.weekday(), now.hour
        db.session.commit()
        assert send_scheduled_digests() == 0
        assert db.session.scalar(select(func.count(Digest.id))) == 0
