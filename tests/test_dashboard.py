"""The dashboard's weekly history: SQL buckets, the running total, the SVG charts, the table."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from mailer.admin import chart, stats
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import (
    BounceEvent,
    BounceKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.test_admin import PASSWORD, login

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
THIS_MONDAY = date(2026, 11, 23)
LAST_MONDAY = date(2026, 11, 16)
SUNDAY_LATE = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
SUNDAY_LAST_MICROSECOND = datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=UTC)
MONDAY_MIDNIGHT = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
LAST_MONDAY_AT_NOON = datetime(2026, 11, 16, 12, tzinfo=UTC)
# 01:30 on Monday in UTC+2 is 23:30 on Sunday in UTC: last week.
MONDAY_IN_CAIRO = datetime(2026, 11, 23, 1, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def add_subscriptions(*rows: dict[str, Any]) -> None:
    """One subscriber and one 'weekly' subscription per row of Subscription fields."""
    for i, fields in enumerate(rows):
        n = db.session.scalar(sa.select(sa.func.count(Subscriber.id)))
        subscriber = Subscriber(email=f"person{n}-{i}@example.org")
        subscriber.subscriptions.append(Subscription(list_id=1, **fields))
        db.session.add(subscriber)
    db.session.commit()


def confirmed(at: datetime) -> dict[str, Any]:
    return {"status": SubscriptionStatus.confirmed, "confirmed_at": at}


def unsubscribed(confirmed_at: datetime | None, at: datetime) -> dict[str, Any]:
    return {
        "status": SubscriptionStatus.unsubscribed,
        "confirmed_at": confirmed_at,
        "unsubscribed_at": at,
    }


def add_deliveries(*sent_at: datetime | None) -> None:
    db.session.add_all(
        Delivery(
            digest_id=1,
            subscriber_id=i,
            status=DeliveryStatus.sent if at else DeliveryStatus.failed,
            sent_at=at,
        )
        for i, at in enumerate(sent_at)
    )
    db.session.commit()


def add_bounces(*events: tuple[BounceKind, datetime]) -> None:
    db.session.add_all(
        BounceEvent(message_hash=f"h{i}", kind=kind, received_at=at)
        for i, (kind, at) in enumerate(events)
    )
    db.session.commit()


def week(history: stats.History, monday: date) -> stats.Week:
    (found,) = [w for w in history.weeks if w.start == monday]
    return found


def test_events_split_at_monday_midnight_utc(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # The buckets are UTC weeks whatever the connection's time zone.
            db.session.execute(sa.text("SET TIME ZONE 'Asia/Tokyo'"))
        add_subscriptions(
            confirmed(SUNDAY_LATE),
            confirmed(SUNDAY_LAST_MICROSECOND),
            confirmed(MONDAY_IN_CAIRO),
            confirmed(MONDAY_MIDNIGHT),
            unsubscribed(datetime(2026, 1, 5, tzinfo=UTC), MONDAY_MIDNIGHT),
        )
        add_deliveries(SUNDAY_LATE, SUNDAY_LAST_MICROSECOND, MONDAY_MIDNIGHT, MONDAY_MIDNIGHT, None)
        add_bounces(
            (BounceKind.hard, SUNDAY_LATE),
            (BounceKind.complaint, MONDAY_MIDNIGHT),
            (BounceKind.auto_reply, MONDAY_MIDNIGHT),  # not a bounce
        )
        history = stats.weekly_history(NOW)

    assert len(history.weeks) == 26
    assert history.weeks[-1].start == THIS_MONDAY
    assert history.weeks[0].start == THIS_MONDAY - timedelta(weeks=25)
    last, this = week(history, LAST_MONDAY), week(history, THIS_MONDAY)
    assert (last.confirmations, this.confirmations) == (3, 1)
    assert (last.unsubscribes, this.unsubscribes) == (0, 1)
    assert (last.sent, this.sent) == (2, 2)
    assert (last.bounces, last.complaints, this.bounces, this.complaints) == (1, 0, 0, 1)
    assert sum(w.sent for w in history.weeks) == 4  # the unsent delivery counts nowhere


def test_running_total_counts_confirmed_subscriptions_at_each_weeks_end(app: Flask) -> None:
    long_ago = datetime(2025, 1, 6, tzinfo=UTC)  # before the 26-week window
    september = datetime(2026, 9, 8, tzinfo=UTC)
    with app.app_context():
        add_subscriptions(
            confirmed(long_ago),  # counted all along
            unsubscribed(long_ago, long_ago + timedelta(days=3)),  # gone before the window
            unsubscribed(long_ago, SUNDAY_LATE),  # counted until last week's end
            confirmed(MONDAY_MIDNIGHT),  # counted from this week
            unsubscribed(None, LAST_MONDAY_AT_NOON),  # never confirmed: not a loss
            {"status": SubscriptionStatus.pending},  # not yet
            # Re-confirmed after an old unsubscribe (confirm() clears unsubscribed_at, an
            # import may not): counted from its confirmation on.
            {**confirmed(SUNDAY_LATE), "unsubscribed_at": september},
        )
        history = stats.weekly_history(NOW)
        current = db.session.scalar(
            sa.select(sa.func.count()).where(Subscription.status == SubscriptionStatus.confirmed)
        )

    assert history.weeks[0].confirmed == 2
    assert week(history, date(2026, 9, 7)).unsubscribes == 0  # that of a lost confirmation
    assert week(history, LAST_MONDAY - timedelta(weeks=1)).confirmed == 2
    last = week(history, LAST_MONDAY)
    assert (last.confirmations, last.unsubscribes, last.confirmed) == (1, 1, 2)
    this = week(history, THIS_MONDAY)
    assert (this.confirmations, this.unsubscribes, this.confirmed) == (1, 0, 3)
    assert this.confirmed == current  # the chart ends where the "confirmed" count stands


def test_history_takes_a_few_queries_however_many_rows(app: Flask) -> None:
    statements: list[str] = []
    with app.app_context():
        add_subscriptions(*(confirmed(NOW - timedelta(days=d)) for d in range(0, 180, 3)))
        add_deliveries(*(NOW - timedelta(days=d, hours=1) for d in range(180)))
        sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        history = stats.weekly_history(NOW)

    assert sum(w.sent for w in history.weeks) == 178  # those since Monday 1 June, 00:00
    assert len(statements) <= 5
    assert all("GROUP BY" in s or "count(" in s for s in statements)


def test_bars_and_line_scale_to_the_largest_value() -> None:
    weeks = [
        stats.Week(THIS_MONDAY - timedelta(weeks=25 - i), 30 + i, 0, 0, 0, 0, 0) for i in range(26)
    ]
    weeks[-1] = stats.Week(THIS_MONDAY, 55, 5, 1, 100, 0, 0)
    growth = chart.growth_chart(stats.History(weeks))

    assert chart.nice_max(100) == 100 and chart.nice_max(101) == 200 and chart.nice_max(0) == 1
    sent = growth.bars[0]
    assert sent[-1].y == growth.top and sent[-1].y + sent[-1].height == growth.baseline
    assert sent[0].height == 0
    assert growth.line[-1].y == pytest.approx(
        growth.baseline - (growth.baseline - growth.top) * 0.55
    )
    assert [t.label for t in growth.y_ticks] == ["0", "25", "50", "75", "100"]
    assert growth.x_ticks[-1].label == "23 Nov"


def test_editor_sees_the_charts_and_the_same_numbers_in_a_table(
    app: Flask, admin: FlaskClient
) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        add_subscriptions(confirmed(now - timedelta(weeks=3)), confirmed(now))
        add_deliveries(now, now, now)

    response = admin.get("/admin/")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert html.count('role="img"') == 2
    assert html.count("<svg") == 2 and '<title id="growth-title">' in html
    assert (
        'aria-labelledby="growth-title growth-desc"' in html and '<desc id="growth-desc">' in html
    )
    assert "Messages sent" in html and "Week starting Monday (UTC)" in html  # legend, axis
    table = html[html.index('<table class="data" id="history-table">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", table, re.S)
    assert len(rows) == 26
    cells = [re.findall(r"<td>(\d+)</td>", row) for row in rows]
    # confirmed at week's end, new confirmations, unsubscribes, messages sent
    assert cells[-1][:4] == ["2", "1", "0", "3"]
    assert cells[-4][:4] == ["1", "1", "0", "0"]
    assert cells[-5][:4] == ["0", "0", "0", "0"]
    # Counts only: no address, no name, and nothing the CSP would block.
    section = html[html.index('id="history-title"') : html.index("<h2>New digest</h2>")]
    assert "@example.org" not in section
    assert "style=" not in section and "<style" not in section and "<script" not in section


def test_dashboard_requires_login(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        add_subscriptions(confirmed(datetime.now(UTC)))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    assert "<svg" not in response.get_data(as_text=True)


def test_new_install_shows_no_data_yet(app: Flask, admin: FlaskClient) -> None:
    with app.app_context():
        add_subscriptions({"status": SubscriptionStatus.pending})  # pending is not history
        assert stats.weekly_history().empty

    html = admin.get("/admin/").get_data(as_text=True)

    assert "No data yet" in html
    assert "<svg" not in html and "history-table" not in html
