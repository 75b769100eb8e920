"""Subscriber CSV import and export (command line and admin pages), adding one by hand."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer import tasks
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import ConsentRecord, Subscriber, SubscriptionStatus, SuppressionReason
from mailer.subscriptions import importing
from mailer.subscriptions.service import suppress
from tests.conftest import SmtpServer, csrf_token, queued_tasks
from tests.test_admin import PASSWORD, login
from tests.test_admin_subscribers import add, search

GOOD = (
    "email,name,language\n"
    "Amira@Example.org,Amira Haddad,ar\n"  # line 2
    "bo@example.net,,\n"  # line 3: no name, the list's language
    "not-an-address,X,en\n"  # line 4
    "amira@example.org,Again,en\n"  # line 5: duplicate of line 2
    "gone@example.org,Gone,en\n"  # line 6: suppressed
    "carla@example.org,Carla,xx\n"  # line 7: unknown language
    f"dan@example.org,{'D' * 101},en\n"  # line 8: name too long
    "old@example.org,Old,en\n"  # line 9: already a confirmed subscriber
    "left@example.org,Left,en\n"  # line 10: unsubscribed from the list earlier
)


def counts(app: Flask) -> tuple[int, int]:
    """(subscribers, consent records)."""
    with app.app_context():
        return (
            int(db.session.scalar(select(func.count(Subscriber.id))) or 0),
            int(db.session.scalar(select(func.count(ConsentRecord.id))) or 0),
        )


def subscriber(app: Flask, email: str) -> dict[str, Any] | None:
    with app.app_context():
        found = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if found is None:
            return None
        return {
            "id": found.id,
            "name": found.name,
            "language": found.language,
            "subs": {s.mailing_list.slug: s.status for s in found.subscriptions},
            "consents": [(c.action, c.source, c.lists, c.ip_hash) for c in found.consents],
        }


def prepare(app: Flask) -> None:
    add(app, "old@example.org", "Old", weekly=SubscriptionStatus.confirmed)
    add(app, "left@example.org", "Left", weekly=SubscriptionStatus.unsubscribed)
    with app.app_context():
        suppress("gone@example.org", SuppressionReason.hard_bounce)
        db.session.commit()


def write(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


# --- command line ----------------------------------------------------------------------------


def test_cli_import_confirmed_reports_refused_rows(
    app: Flask, runner: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prepare(app)
    result = runner.invoke(
        args=["subscribers", "import", write(tmp_path, GOOD), "--list", "weekly", "--confirmed"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 2, already subscribed 1, refused 6" in result.output
    for line, why in [
        (4, "invalid address"),
        (5, "duplicate of line 2"),
        (6, "suppressed"),
        (7, "unknown language “xx”"),
        (8, "name longer than 100 characters"),
        (10, "unsubscribed earlier from weekly"),
    ]:
        assert f"  line {line}: {why}\n" in result.output
    amira = subscriber(app, "amira@example.org")
    assert amira is not None and amira["name"] == "Amira Haddad" and amira["language"] == "ar"
    assert amira["subs"] == {"weekly": SubscriptionStatus.confirmed}
    [(action, source, lists, ip)] = amira["consents"]
    assert action == "import" and source.startswith("import, by command line") and ip is None
    assert lists == "weekly"
    bo = subscriber(app, "bo@example.net")
    assert bo is not None and bo["name"] is None and bo["language"] == "en"
    for email in ("gone@example.org", "carla@example.org", "dan@example.org"):
        assert subscriber(app, email) is None
    old = subscriber(app, "old@example.org")
    assert old is not None and old["consents"] == []  # counted, not changed
    left = subscriber(app, "left@example.org")
    assert left is not None and left["subs"] == {"weekly": SubscriptionStatus.unsubscribed}
    assert queued_tasks(app) == []  # confirmed: no confirmation mail
    assert "amira" not in caplog.text.lower() and "@" not in caplog.text


def test_cli_import_pending_sends_confirmations(
    app: Flask, runner: Any, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    prepare(app)
    csv_file = write(tmp_path, "email\nnew1@example.org\nnew2@example.org\nold@example.org\n")
    result = runner.invoke(args=["subscribers", "import", csv_file, "--list", "alerts"])
    assert result.exit_code == 0, result.output
    assert "imported 3, already subscribed 0, refused 0" in result.output
    # old@ is confirmed on weekly, not on alerts: they too are asked to confirm alerts.
    ids = [subscriber(app, e)["id"] for e in ("new1@example.org", "new2@example.org")]  # type: ignore[index]
    old = subscriber(app, "old@example.org")
    assert old is not None and old["subs"]["alerts"] == SubscriptionStatus.pending
    assert old["subs"]["weekly"] == SubscriptionStatus.confirmed
    queued = queued_tasks(app)
    assert queued == [("mailer.send_confirmation", [i]) for i in [*ids, old["id"]]]
    new1 = subscriber(app, "new1@example.org")
    assert new1 is not None and new1["subs"] == {"alerts": SubscriptionStatus.pending}
    [(action, source, lists, _ip)] = new1["consents"]
    assert (action, lists) == ("signup", "alerts") and source.startswith("import, by command")
    smtp_server.clear()
    with app.app_context():
        for _name, (subscriber_id,) in queued:
            tasks.send_confirmation(subscriber_id)
    received = smtp_server.wait_for(3)
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "new1@example.org",
        "new2@example.org",
        "old@example.org",
    ]
    assert "/confirm/" in received[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"email,name\n\xff\xfebad@example.org,x\n", "not UTF-8"),
        (b"address,name\na@example.org,A\n", "header"),
        (b"email,phone\na@example.org,123\n", "header"),
        (b"email\na@example.org\x00\n", "not a CSV"),
        (b"", "empty"),
        (b"email,name,language\n", "no rows"),
        (b'email,name\n"a@example.org,unterminated\n', "not valid CSV"),
    ],
)
def test_cli_a_broken_file_writes_nothing(
    app: Flask, runner: Any, tmp_path: Path, content: bytes, message: str
) -> None:
    before = counts(app)
    result = runner.invoke(
        args=["subscribers", "import", write(tmp_path, content), "--list", "weekly"]
    )
    assert result.exit_code == 1 and "Nothing imported" in result.output
    assert message in result.output
    assert counts(app) == before and queued_tasks(app) == []


@pytest.mark.parametrize("config_overrides", [{"SUBSCRIBER_IMPORT_MAX_BYTES": 100}])
def test_cli_a_too_large_file_writes_nothing(app: Flask, runner: Any, tmp_path: Path) -> None:
    rows = "".join(f"r{i}@example.org\n" for i in range(20))
    result = runner.invoke(
        args=["subscribers", "import", write(tmp_path, "email\n" + rows), "--list", "weekly"]
    )
    assert result.exit_code == 1 and "larger than 100 bytes" in result.output
    assert counts(app) == (0, 0)


def test_cli_an_error_mid_way_writes_nothing(
    app: Flask, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CHUNK", 2)  # rows 1-2 are flushed before row 3 fails
    original = importing._import_one

    def failing(row: importing.Row, *args: Any) -> Any:
        if row.email == "r3@example.org":
            raise RuntimeError("database went away")
        return original(row, *args)

    monkeypatch.setattr(importing, "_import_one", failing)
    rows = "".join(f"r{i}@example.org\n" for i in range(1, 5))
    result = runner.invoke(
        args=["subscribers", "import", write(tmp_path, "email\n" + rows), "--list", "weekly"]
    )
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    with app.app_context():
        db.session.rollback()
    assert counts(app) == (0, 0) and queued_tasks(app) == []


def test_cli_unknown_list(app: Flask, runner: Any, tmp_path: Path) -> None:
    result = runner.invoke(
        args=["subscribers", "import", write(tmp_path, "email\na@example.org\n"), "--list", "x"]
    )
    assert result.exit_code == 1 and "no list called" in result.output


def test_export_round_trip(app: Flask, runner: Any, tmp_path: Path) -> None:
    source = (
        "email,name,language\n"
        "a@example.org,Ana,es\n"
        'b@example.org,=HYPERLINK("http://evil"),fr\n'
        "c@example.org,,\n"
    )
    runner.invoke(args=["subscribers", "import", write(tmp_path, source), "--list", "weekly"])
    runner.invoke(
        args=["subscribers", "import", write(tmp_path, source, "b.csv"), "--list", "alerts"]
    )
    add(app, "x@example.org", None, weekly=SubscriptionStatus.confirmed)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        args=["subscribers", "export", "--list", "weekly", "--status", "pending"]
        + ["--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == list(importing.EXPORT_COLUMNS)
    assert [(r["email"], r["name"], r["language"], r["list"], r["status"]) for r in rows] == [
        ("a@example.org", "Ana", "es", "weekly", "pending"),
        ("b@example.org", '\'=HYPERLINK("http://evil")', "fr", "weekly", "pending"),
        ("c@example.org", "", "en", "weekly", "pending"),
    ]
    assert all(r["subscribed_at"] and not r["confirmed_at"] for r in rows)
    everything = runner.invoke(args=["subscribers", "export"])
    assert everything.output.count("\n") == 1 + 7  # header, 3 + 3 imported, x@
    # The export imports again (into another list): same people, names unescaped.
    again = runner.invoke(
        args=["subscribers", "import", str(out), "--list", "members", "--confirmed"]
    )
    assert "imported 3, already subscribed 0, refused 0" in again.output
    b = subscriber(app, "b@example.org")
    assert b is not None and b["name"] == '=HYPERLINK("http://evil")'
    assert b["subs"]["members"] == SubscriptionStatus.confirmed


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


def post_form(admin: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    token = csrf_token(admin.get(url).get_data(as_text=True))
    return admin.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")


@pytest.mark.parametrize(
    "path",
    ["/admin/subscribers/new", "/admin/subscribers/import", "/admin/subscribers/export"],
)
def test_admin_pages_need_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_admin_add_with_consent(app: Flask, admin: FlaskClient) -> None:
    response = post_form(
        admin,
        "/admin/subscribers/new",
        {
            "email": " Nadia@Example.ORG ",
            "name": "Nadia",
            "language": "fr",
            "lists": ["weekly", "members"],
            "consented": "y",
        },
    )
    assert response.status_code == 303
    found = subscriber(app, "nadia@example.org")
    assert found is not None and response.headers["Location"].endswith(f"/{found['id']}")
    assert found["subs"] == {
        "weekly": SubscriptionStatus.confirmed,
        "members": SubscriptionStatus.confirmed,
    }
    [(action, source, lists, _ip)] = found["consents"]
    assert (action, lists) == ("import", "weekly,members")
    assert source.startswith("added by editor ")
    assert queued_tasks(app) == []
    assert "Subscriber added, confirmed." in admin.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_admin_add_without_consent_sends_a_confirmation(
    app: Flask, admin: FlaskClient, smtp_server: SmtpServer
) -> None:
    response = post_form(
        admin,
        "/admin/subscribers/new",
        {"email": "omar@example.org", "name": "", "language": "en", "lists": ["alerts"]},
    )
    assert response.status_code == 303
    found = subscriber(app, "omar@example.org")
    assert found is not None and found["subs"] == {"alerts": SubscriptionStatus.pending}
    assert queued_tasks(app) == [("mailer.send_confirmation", [found["id"]])]
    smtp_server.clear()
    with app.app_context():
        tasks.send_confirmation(found["id"])
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["omar@example.org"]


@pytest.mark.parametrize(
    ("config_overrides", "flash", "mails"),
    [
        ({}, "the confirmation email was sent again.", 2),
        (  # the per-address cap on: one confirmation mail a day
            {"RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "100000 per minute"},
            "a confirmation email went to this address recently, so none was sent now.",
            1,
        ),
    ],
)
def test_admin_add_of_someone_still_to_confirm_says_so(
    app: Flask, admin: FlaskClient, flash: str, mails: int
) -> None:
    """Before: "Not added: they a confirmation mail went to this address recently."
    (or, with the cap's slot free, "Subscriber added" and a second consent record)."""
    form = {"email": "omar@example.org", "language": "en", "lists": ["alerts"]}
    assert post_form(admin, "/admin/subscribers/new", form).status_code == 303
    again = post_form(admin, "/admin/subscribers/new", form)
    assert again.status_code == 303, again.get_data(as_text=True)
    page = admin.get(again.headers["Location"]).get_data(as_text=True)
    assert "Already subscribed and awaiting confirmation: " + flash in page
    found = subscriber(app, "omar@example.org")
    assert found is not None and found["subs"] == {"alerts": SubscriptionStatus.pending}
    assert len(found["consents"]) == 1
    assert [name for name, _ in queued_tasks(app)] == ["mailer.send_confirmation"] * mails


def test_admin_add_refuses_bad_input(app: Flask, admin: FlaskClient) -> None:
    prepare(app)
    url = "/admin/subscribers/new"
    bad = post_form(admin, url, {"email": "nonsense", "language": "en", "lists": ["weekly"]})
    assert bad.status_code == 422 and "valid email address" in bad.get_data(as_text=True)
    none = post_form(admin, url, {"email": "p@example.org", "language": "en"})
    assert none.status_code == 422 and "Choose at least one list" in none.get_data(as_text=True)
    gone = post_form(
        admin, url, {"email": "gone@example.org", "language": "en", "lists": ["weekly"]}
    )
    assert gone.status_code == 422 and "suppression list" in gone.get_data(as_text=True)
    assert counts(app)[0] == 2 and queued_tasks(app) == []
    assert admin.post(url, data={"email": "q@example.org"}).status_code == 400  # no CSRF


@pytest.mark.parametrize("config_overrides", [{"SUBSCRIBER_IMPORT_MAX_BYTES": 1000}])
def test_admin_import_refuses_bad_uploads(app: Flask, admin: FlaskClient) -> None:
    url = "/admin/subscribers/import"

    def upload(content: bytes, **extra: Any) -> Any:
        return post_form(
            admin, url, {"file": (io.BytesIO(content), "x.csv"), "list": "weekly", **extra}
        )

    not_utf8 = upload(b"email\n\xff\xfe@example.org\n")
    assert not_utf8.status_code == 422 and "not UTF-8" in not_utf8.get_data(as_text=True)
    header = upload(b"mail\na@example.org\n")
    assert header.status_code == 422 and "header" in header.get_data(as_text=True)
    large = upload(b"email\n" + b"a@example.org\n" * 100)
    assert large.status_code == 413 and "Nothing imported" in large.get_data(as_text=True)
    assert upload(b"email\na@example.org\n", list="nope").status_code == 422
    no_file = post_form(admin, url, {"list": "weekly"})
    assert no_file.status_code == 422 and "Choose a CSV file" in no_file.get_data(as_text=True)
    assert counts(app) == (0, 0) and queued_tasks(app) == []
    assert queued_tasks(app, "celery") == []  # a refused file never becomes a job


def test_admin_export_streams_the_current_search(app: Flask, admin: FlaskClient) -> None:
    add(app, "amira@example.org", "Amira", weekly=SubscriptionStatus.confirmed)
    add(app, "bo@example.net", "Bo", weekly=SubscriptionStatus.pending)
    add(app, "carla@example.org", "Carla", alerts=SubscriptionStatus.confirmed)
    found = search(admin, "example.org", list="weekly")
    response = admin.get(found.replace("/subscribers?", "/subscribers/export?"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["email"], r["list"], r["status"]) for r in rows] == [
        ("amira@example.org", "weekly", "confirmed")
    ]
    assert admin.get("/admin/subscribers/export?status=bogus").status_code == 404
    page = admin.get("/admin/subscribers?list=weekly").get_data(as_text=True)
    assert "/admin/subscribers/export?list=weekly" in page


@pytest.mark.parametrize(
    "config_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "100000 per minute"}]
)
def test_admin_add_to_another_list_within_the_address_cap_reads_naturally(
    app: Flask, admin: FlaskClient
) -> None:
    """Before: "Not added: they a confirmation mail went to this address recently."."""
    prepare(app)
    form = {"email": "omar@example.org", "language": "en", "lists": ["alerts"]}
    assert post_form(admin, "/admin/subscribers/new", form).status_code == 303
    again = post_form(admin, "/admin/subscribers/new", {**form, "lists": ["weekly"]})
    assert again.status_code == 422
    page = again.get_data(as_text=True)
    assert "Not added: a confirmation mail went to this address recently." in page
    assert "they a confirmation" not in page
