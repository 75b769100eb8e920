"""The weekly digest, reviewed: drafted at the lead time with an injected clock, "send
automatically" (Hold) or "wait for an editor" (Approve), and one digest a week per list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import clock
from mailer.admin.auth import create_editor
from mailer.digests import lifecycle, service
from mailer.extensions import db
from mailer.models import Article, Digest, DigestItem, DigestStatus, Editor, MailingList
from mailer.tasks import start_digest
from tests.conftest import queued_tasks
from tests.test_sending import add_subscribers

# Friday 09:00 in Berlin: 08:00 UTC in January (CET, UTC+1).
SLOT = datetime(2027, 1, 8, 8, 0, tzinfo=UTC)
LEAD = timedelta(hours=24)
SetClock = Callable[[datetime], None]


@pytest.fixture
def set_clock(app: Flask) -> SetClock:
    """Inject the app's clock (mailer/clock.py); the returned function moves it."""
    now = [SLOT - timedelta(days=3)]
    app.extensions[clock.EXTENSION] = lambda: now[0]

    def move(when: datetime) -> None:
        now[0] = when

    return move


def weekly_list(app: Flask, automatic: bool, articles: int = 3, day: int = 4) -> list[int]:
    """The "weekly" list on Fridays 09:00 Berlin, two editors, and `articles` new articles."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.schedule_weekday, weekly.schedule_hour = 4, 9
        weekly.schedule_timezone, weekly.send_automatically = "Europe/Berlin", automatic
        create_editor("editor@example.org", "correct horse battery staple")
        create_editor("second.editor@example.org", "correct horse battery staple")
        ids = add_articles(day, articles)
        db.session.commit()
        return ids


def add_articles(day: int, n: int, prefix: str = "a") -> list[int]:
    rows = [
        Article(
            guid=f"{prefix}{day}-{i}",
            link=f"https://news.example.org/{prefix}{day}-{i}",
            title=f"Story {prefix}{day}-{i}",
            published_at=datetime(2027, 1, day, 12, i, tzinfo=UTC),
        )
        for i in range(n)
    ]
    db.session.add_all(rows)
    db.session.flush()
    return [a.id for a in rows]


def run_scheduler(app: Flask) -> list[int]:
    with app.app_context():
        return lifecycle.start_due()


def the_digests(app: Flask) -> list[Digest]:
    with app.app_context():
        rows = list(db.session.scalars(select(Digest).order_by(Digest.id)))
        for d in rows:
            _ = d.items
        return rows


def review_mails(app: Flask) -> list[list[int]]:
    return [args for name, args in queued_tasks(app, "mail") if name == "mailer.send_review_mail"]


def started(app: Flask) -> list[list[int]]:
    return [args for name, args in queued_tasks(app, "celery") if name == "mailer.start_digest"]


def test_waiting_list_drafted_at_the_lead_time_and_editors_mailed(
    app: Flask, set_clock: SetClock
) -> None:
    weekly_list(app, automatic=False)
    set_clock(SLOT - LEAD - timedelta(minutes=1))
    assert run_scheduler(app) == [] and the_digests(app) == []

    set_clock(SLOT - LEAD)
    run_scheduler(app)
    (digest,) = the_digests(app)
    assert digest.status == DigestStatus.draft and digest.scheduled_at is None
    assert digest.schedule_slot == SLOT and len(digest.items) == 3
    with app.app_context():
        editors = list(db.session.scalars(select(Editor.id).order_by(Editor.id)))
    assert review_mails(app) == [[digest.id, e] for e in editors]

    # Later runs draft nothing more and mail nobody again; at the slot nothing goes out.
    set_clock(SLOT - timedelta(hours=2))
    run_scheduler(app)
    set_clock(SLOT + timedelta(minutes=1))
    assert run_scheduler(app) == []
    assert len(the_digests(app)) == 1 and len(review_mails(app)) == 2
    assert the_digests(app)[0].status == DigestStatus.draft


def test_a_setting_of_zero_drafts_at_the_slot(app: Flask, set_clock: SetClock) -> None:
    app.config["DIGEST_REVIEW_LEAD_HOURS"] = 0
    weekly_list(app, automatic=True)
    set_clock(SLOT - timedelta(minutes=1))
    assert run_scheduler(app) == [] and the_digests(app) == []
    set_clock(SLOT + timedelta(minutes=1))
    (digest_id,) = run_scheduler(app)
    assert the_digests(app)[0].id == digest_id


def test_automatic_list_goes_out_at_the_slot(app: Flask, set_clock: SetClock) -> None:
    weekly_list(app, automatic=True)
    set_clock(SLOT - LEAD + timedelta(minutes=5))
    assert run_scheduler(app) == []  # drafted and scheduled, not due
    (digest,) = the_digests(app)
    assert digest.status == DigestStatus.scheduled and digest.scheduled_at == SLOT
    assert len(review_mails(app)) == 2
    set_clock(SLOT - timedelta(seconds=1))
    assert run_scheduler(app) == []
    set_clock(SLOT)
    assert run_scheduler(app) == [digest.id]
    assert started(app) == [[digest.id]]


def test_hold_keeps_an_automatic_digest_until_approved(app: Flask, set_clock: SetClock) -> None:
    weekly_list(app, automatic=True)
    set_clock(SLOT - LEAD)
    run_scheduler(app)
    (digest,) = the_digests(app)
    set_clock(SLOT - timedelta(hours=3))
    with app.app_context():
        lifecycle.hold(digest.id)
    assert the_digests(app)[0].status == DigestStatus.draft
    set_clock(SLOT + timedelta(minutes=1))
    assert run_scheduler(app) == [] and started(app) == []
    assert [d.id for d in the_digests(app)] == [digest.id]  # not drafted again

    with app.app_context():
        assert lifecycle.approve(digest.id) is False  # the slot passed: it starts now
    assert started(app) == [[digest.id]]
    assert the_digests(app)[0].status == DigestStatus.scheduled


def test_approve_schedules_a_waiting_digest_for_its_slot(app: Flask, set_clock: SetClock) -> None:
    weekly_list(app, automatic=False)
    set_clock(SLOT - LEAD)
    run_scheduler(app)
    (digest,) = the_digests(app)
    set_clock(SLOT - timedelta(hours=5))
    with app.app_context():
        assert lifecycle.approve(digest.id) is True
        with pytest.raises(lifecycle.NotSendable):
            lifecycle.approve(digest.id)  # approved already
    approved = the_digests(app)[0]
    assert approved.status == DigestStatus.scheduled and approved.scheduled_at == SLOT
    set_clock(SLOT + timedelta(seconds=30))
    assert run_scheduler(app) == [digest.id]


def test_only_the_weeks_digest_is_approved_or_held(app: Flask, set_clock: SetClock) -> None:
    weekly_list(app, automatic=False)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        by_hand = lifecycle.create(weekly)
        with pytest.raises(lifecycle.NotSendable, match="waiting for an editor"):
            lifecycle.approve(by_hand.id)
        lifecycle.schedule(by_hand.id, SLOT + timedelta(days=1))
        with pytest.raises(lifecycle.NotSendable, match="made by the scheduler"):
            lifecycle.hold(by_hand.id)
        assert db.session.get(Digest, by_hand.id).status == DigestStatus.scheduled


# --- one digest a week, no article twice ---------------------------------------------------


def hand_send(app: Flask, article_ids: list[int] | None = None) -> int:
    """An editor sends a digest by hand now (the admin's "Send now"), and a worker claims it."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        chosen = (
            list(db.session.scalars(select(Article).where(Article.id.in_(article_ids))))
            if article_ids is not None
            else None
        )
        digest = lifecycle.create(weekly, chosen)
        lifecycle.start(digest.id)
        start_digest(digest.id)
        return digest.id


def sent_articles(app: Flask) -> list[int]:
    """Every article of every digest that went (or goes) to the list, repeats included."""
    with app.app_context():
        return list(
            db.session.scalars(
                select(DigestItem.article_id)
                .join(Digest)
                .where(Digest.status.in_([DigestStatus.sending, DigestStatus.sent]))
            )
        )


def test_a_hand_sent_digest_is_the_weeks_and_no_article_goes_twice(
    app: Flask, set_clock: SetClock
) -> None:
    add_subscribers(app, 2)
    first = weekly_list(app, automatic=True)
    set_clock(datetime(2027, 1, 5, 10, tzinfo=UTC))  # Tuesday: the editor sends by hand
    by_hand = hand_send(app)
    assert sorted(sent_articles(app)) == sorted(first)

    with app.app_context():
        more = add_articles(6, 2, prefix="b")  # published after the hand send
        db.session.commit()
    for when in (SLOT - LEAD, SLOT - timedelta(hours=1), SLOT, SLOT + timedelta(hours=1)):
        set_clock(when)
        assert run_scheduler(app) == []
    assert [d.id for d in the_digests(app)] == [by_hand]  # the week had its digest
    assert review_mails(app) == []

    # Next week's digest carries only what the list has not had.
    set_clock(SLOT + timedelta(days=7) - LEAD)
    run_scheduler(app)
    set_clock(SLOT + timedelta(days=7))
    (weekly_id,) = run_scheduler(app)
    with app.app_context():
        start_digest(weekly_id)
    carried = sent_articles(app)
    assert sorted(carried) == sorted(first + more)
    assert len(carried) == len(set(carried))


def test_a_digest_scheduled_by_hand_counts_for_its_week(app: Flask, set_clock: SetClock) -> None:
    weekly_list(app, automatic=True)
    set_clock(SLOT - timedelta(days=3))
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        digest_id = lifecycle.create(weekly).id
        lifecycle.schedule(digest_id, SLOT - timedelta(days=1))
        add_articles(6, 2, prefix="b")  # new since: only the week's digest stops a draft
        db.session.commit()
    set_clock(SLOT - LEAD)
    run_scheduler(app)
    assert [d.id for d in the_digests(app)] == [digest_id]


def test_an_article_another_digest_brings_this_week_is_refused(
    app: Flask, set_clock: SetClock
) -> None:
    articles = weekly_list(app, automatic=True)
    set_clock(SLOT - LEAD)
    run_scheduler(app)
    (weekly_digest,) = the_digests(app)
    with app.app_context():
        weekly = db.session.get(MailingList, weekly_digest.list_id)
        assert weekly is not None
        # "New digest" leaves out what the scheduled one carries: nothing is left.
        assert service.articles_since_last_digest(weekly) == []
        chosen = list(db.session.scalars(select(Article).where(Article.id == articles[0])))
        twice = lifecycle.create(weekly, chosen)
        with pytest.raises(lifecycle.ArticlesTwice):
            lifecycle.start(twice.id)
        with pytest.raises(lifecycle.ArticlesTwice):
            lifecycle.schedule(twice.id, SLOT + timedelta(days=2))
        assert db.session.get(Digest, twice.id).status == DigestStatus.draft


def test_a_due_digest_whose_article_went_out_meanwhile_waits(
    app: Flask, set_clock: SetClock
) -> None:
    add_subscribers(app, 1)
    weekly_list(app, automatic=True)
    set_clock(SLOT - LEAD)
    run_scheduler(app)
    (weekly_digest,) = the_digests(app)
    set_clock(SLOT - timedelta(hours=12))
    with app.app_context():
        extra = add_articles(7, 1, prefix="late")
        db.session.commit()
    hand_send(app, extra)  # the late article goes out by hand...
    with app.app_context():
        digest = db.session.get(Digest, weekly_digest.id)
        assert digest is not None
        ids = [a.id for a in digest.articles] + extra  # ...and is added to the week's too
        service.update_digest(digest, subject=digest.subject, intro="", article_ids=ids)
        db.session.commit()
    set_clock(SLOT)
    assert run_scheduler(app) == []
    assert the_digests(app)[0].status == DigestStatus.draft
    assert len(sent_articles(app)) == len(set(sent_articles(app)))
