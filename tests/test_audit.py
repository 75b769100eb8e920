"""The audit log: what is recorded, what never is, append-only, retention, page and CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from mailer import audit, retention
from mailer.extensions import db
from mailer.models import (
    AuditEvent,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash
from tests.conftest import csrf_token
from tests.role_helpers import PASSWORD, ROLES, login, make_editors, make_objects


def events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def post(client: FlaskClient, url: str, data: dict[str, Any], page: str) -> Any:
    html = client.get(page).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def test_logins_failures_and_logout_are_recorded_without_addresses_or_ips(
    app: Flask, client: FlaskClient
) -> None:
    ids = make_editors(app)
    assert login(client, ROLES["editor"], "wrong password here").status_code == 422
    assert login(client, "nobody@example.org").status_code == 422
    assert login(client, ROLES["editor"]).status_code == 303
    html = client.get("/admin/").get_data(as_text=True)
    assert client.post("/admin/logout", data={"csrf_token": csrf_token(html)}).status_code == 303
    rows = events(app)
    assert [(e.action, e.editor_id) for e in rows] == [
        ("login.failure", None),
        ("login.failure", None),
        ("login.success", ids["editor"]),
        ("logout", ids["editor"]),
    ]
    for row in rows:
        assert row.network and len(row.network) == 16 and "127.0.0.1" not in row.network
        assert "@" not in repr(row.detail)


def test_every_successful_post_is_recorded_with_its_object_and_failures_are_not(
    app: Flask, client: FlaskClient
) -> None:
    make_editors(app)
    values = make_objects(app)
    login(client, ROLES["owner"])
    digest = f"/admin/digests/{values['digest_id']}"
    bad = post(client, digest, {"subject": ""}, digest)
    assert bad.status_code == 422
    with app.app_context():
        db.session.execute(text("UPDATE digest SET status = 'sending'"))
        db.session.commit()
    assert post(client, f"{digest}/pause", {}, digest).status_code == 303
    reader = f"/admin/subscribers/{values['subscriber_id']}"
    assert post(client, f"{reader}/erase", {}, reader).status_code == 303
    with app.app_context():
        alerts_list = db.session.get(MailingList, 2)
        other = Subscriber(email="other@example.org", address_hash=address_hash("o@x.org"))
        other.subscriptions.append(
            Subscription(mailing_list=alerts_list, status=SubscriptionStatus.confirmed)
        )
        db.session.add(other)
        db.session.commit()
    alerts = "/admin/lists/2"
    asked = post(client, f"{alerts}/delete", {}, alerts)  # the "what goes with it" page
    assert asked.status_code == 200
    assert post(client, f"{alerts}/delete", {"confirm": "alerts"}, alerts).status_code == 303
    rows = [e for e in events(app) if e.action != "login.success"]
    assert [(e.action, e.object_type, e.object_ids, e.detail) for e in rows] == [
        ("control_digest", "digest", str(values["digest_id"]), {"action": "pause"}),
        ("erase_subscriber", "subscriber", str(values["subscriber_id"]), {}),
        ("delete_list", "list", "2", {}),
    ]


def test_export_is_recorded_without_the_search_text(app: Flask, client: FlaskClient) -> None:
    ids = make_editors(app)
    login(client, ROLES["owner"])
    found = post(
        client,
        "/admin/subscribers/search",
        {"q": "someone@example.org", "list": "weekly"},
        "/admin/subscribers",
    )
    export = found.headers["Location"].replace("/subscribers?", "/subscribers/export?")
    assert "someone" not in export and "list=weekly" in export
    response = client.get(export)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    response.close()
    (row,) = [e for e in events(app) if e.action == "export_subscribers"]
    assert row.editor_id == ids["owner"]
    assert row.detail == {"list": "weekly", "status": "any", "searched": True}


def test_events_cannot_be_updated(app: Flask) -> None:
    with app.app_context():
        audit.record("something", editor_id=None)
        db.session.commit()
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text("UPDATE audit_event SET action = 'other'"))
        db.session.rollback()
        assert db.session.scalar(select(AuditEvent.action)) == "something"


def test_retention_deletes_events_older_than_the_setting(app: Flask) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with app.app_context():
        audit.record("old", editor_id=None, at=now - timedelta(days=366))
        audit.record("recent", editor_id=None, at=now - timedelta(days=364))
        db.session.commit()
        report = retention.apply(now)
        assert report.audit_events_deleted == 1
        assert list(db.session.scalars(select(AuditEvent.action))) == ["recent"]


@pytest.fixture
def many_events(app: Flask) -> dict[str, int]:
    ids = make_editors(app)
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with app.app_context():
        for day in range(60):
            audit.record(
                "edit_list",
                editor_id=ids["editor"],
                objects=("list", day),
                at=start + timedelta(days=day // 3, minutes=day),
            )
        audit.record(
            "erase_subscriber", editor_id=ids["owner"], objects=("subscriber", 7), at=start
        )
        db.session.commit()
    return ids


def test_the_audit_page_filters_and_pages(
    app: Flask, client: FlaskClient, many_events: dict[str, int]
) -> None:
    login(client, ROLES["owner"])
    first = client.get("/admin/audit").get_data(as_text=True)
    assert "Page 1 of 2" in first
    second = client.get("/admin/audit?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "erase_subscriber" in second
    by_owner = client.get(f"/admin/audit?editor={many_events['owner']}&action=").get_data(
        as_text=True
    )
    assert "erase_subscriber" in by_owner and "edit_list" not in by_owner.split("<tbody>")[1]
    day = client.get("/admin/audit?action=edit_list&since=2026-11-02&until=2026-11-02")
    rows = day.get_data(as_text=True).split("<tbody>")[1].count("<tr>")
    assert rows == 3
    junk = client.get("/admin/audit?editor=x&since=yesterday&page=-4")
    assert junk.status_code == 200 and "Page 1 of 2" in junk.get_data(as_text=True)


def test_cli_exports_csv_with_since_and_output(
    app: Flask, runner: Any, many_events: dict[str, int], tmp_path: Path
) -> None:
    result = runner.invoke(args=["audit", "export"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.output.splitlines()))
    assert len(rows) == 61
    assert rows[0]["editor"] == ROLES["editor"] and rows[0]["action"] == "edit_list"
    target = tmp_path / "audit.csv"
    result = runner.invoke(
        args=["audit", "export", "--since", "2026-11-20", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    with target.open(newline="") as handle:
        later = list(csv.DictReader(handle))
    assert len(later) == 3  # the events of 2026-11-20, the last day
    assert "3 events written" in result.output
    assert target.stat().st_mode & 0o777 == 0o600
    bad = runner.invoke(args=["audit", "export", "--since", "last week"])
    assert bad.exit_code == 2 and "Invalid value for '--since'" in bad.output


def test_the_audit_page_is_for_owners(app: Flask, client: FlaskClient) -> None:
    make_editors(app)
    login(client, ROLES["editor"], PASSWORD)
    assert client.get("/admin/audit").status_code == 403
