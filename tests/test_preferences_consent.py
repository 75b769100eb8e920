"""Joining a list from the preferences page records consent, as signing up and confirming do:
the wording's version and language, the lists, the keyed hash of the network."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import ConsentRecord
from mailer.privacy import ip_hash
from mailer.subscriptions import service
from tests.conftest import csrf_token
from tests.test_links import confirmed, statuses

SENTENCE = "When you tick a list and save, you agree to receive its emails."


def list_ids(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {lst.slug: lst.id for lst in service.public_lists()}


def save(client: FlaskClient, url: str, lists: list[int], language: str = "en") -> Any:
    page = client.get(url).get_data(as_text=True)
    return client.post(
        url, data={"csrf_token": csrf_token(page), "lists": lists, "language": language}
    )


def preference_records(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        records = db.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.action == "preferences")
            .order_by(ConsentRecord.id)
        )
        return [r.as_dict() for r in records]


def test_joining_a_list_records_consent(app: Flask, client: FlaskClient) -> None:
    url = f"/preferences/{confirmed(app)['preferences']}"
    assert SENTENCE in client.get(url).get_data(as_text=True)
    ids = list_ids(app)
    response = save(client, url, [ids["weekly"], ids["alerts"]])
    assert response.status_code == 303
    assert statuses(app) == {"weekly": "confirmed", "alerts": "confirmed"}
    (record,) = preference_records(app)
    assert record["lists"] == ["alerts"]  # the list joined, not the one kept
    assert record["consent_version"] == app.config["CONSENT_VERSION"]
    assert record["source"] == "preferences" and record["language"] == "en"
    with app.app_context():
        assert record["ip_hash"] == ip_hash("127.0.0.1")


def test_keeping_or_leaving_lists_records_nothing(app: Flask, client: FlaskClient) -> None:
    url = f"/preferences/{confirmed(app, lists=('weekly', 'alerts'))['preferences']}"
    ids = list_ids(app)
    assert save(client, url, [ids["weekly"], ids["alerts"]]).status_code == 303
    assert save(client, url, [ids["weekly"]]).status_code == 303
    assert preference_records(app) == []
    assert save(client, url, [ids["weekly"], ids["alerts"]]).status_code == 303  # back again
    assert [r["lists"] for r in preference_records(app)] == [["alerts"]]


def test_the_record_names_the_language_the_page_was_shown_in(
    app: Flask, client: FlaskClient
) -> None:
    """A Persian page, saved with French chosen for the mails: the reader read the Persian."""
    url = f"/preferences/{confirmed(app)['preferences']}"
    with app.app_context():
        from mailer.models import Subscriber

        subscriber = db.session.scalar(select(Subscriber))
        assert subscriber is not None
        subscriber.language = "fa"
        db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page and SENTENCE not in page
    assert "با علامت زدن یک فهرست و ذخیره" in page
    ids = list_ids(app)
    assert save(client, url, [ids["weekly"], ids["alerts"]], language="fr").status_code == 303
    (record,) = preference_records(app)
    assert record["language"] == "fa"
