"""Admin: the bounce and complaint log with per-digest rates, and the suppression list."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.admin.auth import create_editor
from mailer.bounces import service
from mailer.extensions import db
from mailer.models import SuppressionReason
from tests.bounce_helpers import bounce, sent_digest, suppression
from tests.test_admin import PASSWORD, login, post


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    assert login(client).status_code == 303
    return client


@pytest.mark.parametrize("path", ["/admin/bounces", "/admin/suppressions"])
def test_the_pages_need_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_log_shows_counts_and_rates_per_digest_and_never_an_address(
    app: Flask, admin: FlaskClient
) -> None:
    verps = sent_digest(app, n=4)
    with app.app_context():
        reader = "reader1@example.org"
        service.record(bounce("postfix_hard.eml", verps[reader], reader), [verps[reader]])
        reader = "reader2@example.org"
        service.record(bounce("arf_complaint.eml", verps[reader], reader), ["fbl@example.org"])
        db.session.commit()
    page = admin.get("/admin/bounces").get_data(as_text=True)
    assert "This week" in page and "25.00 %" in page  # 1 of 4 bounced, 1 of 4 complained
    assert "5.1.1" in page and "complaint" in page
    assert "reader" not in page
    assert admin.get("/admin/bounces?kind=hard").status_code == 200
    assert admin.get("/admin/bounces?kind=nonsense").status_code == 404


def test_the_suppression_list_shows_hashes_and_adds_an_address(
    app: Flask, admin: FlaskClient
) -> None:
    response = post(admin, "/admin/suppressions", {"email": "Someone@Example.org"})
    assert response.status_code == 303
    assert suppression(app, "someone@example.org") == SuppressionReason.manual
    page = admin.get("/admin/suppressions").get_data(as_text=True)
    assert "manual: 1" in page and "someone" not in page.lower()
    bad = post(admin, "/admin/suppressions", {"email": "nope"})
    assert bad.status_code == 303
    assert "Not a valid address" in admin.get("/admin/suppressions").get_data(as_text=True)
    assert admin.get("/admin/suppressions?reason=bogus").status_code == 404


def test_the_digest_page_and_its_progress_show_bounce_and_complaint_rates(
    app: Flask, admin: FlaskClient
) -> None:
    verps = sent_digest(app, n=4)
    with app.app_context():
        reader = "reader0@example.org"
        service.record(bounce("gmail_hard.eml", verps[reader], reader), [verps[reader]])
        reader = "reader3@example.org"
        service.record(bounce("arf_complaint.eml", verps[reader], reader), ["fbl@example.org"])
        db.session.commit()
    page = admin.get("/admin/digests/1").get_data(as_text=True)
    assert "1 hard, 25.00 %" in page and "(25.00 %)" in page
    progress = admin.get("/admin/digests/1/progress.json").get_json()
    assert (progress["sent"], progress["bounced"], progress["complaints"]) == (4, 1, 1)
