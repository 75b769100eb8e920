"""Editors of each role and one object of each kind an admin URL can name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import (
    Article,
    Digest,
    EditorInvite,
    MailingList,
    Role,
    Subscriber,
    SubscriberImport,
    TrustedDevice,
    utcnow,
)
from mailer.privacy import address_hash
from tests.conftest import csrf_token

PASSWORD = "correct horse battery staple"
ROLES = {role.value: f"{role.value}@example.org" for role in Role}


def make_editors(app: Flask) -> dict[str, int]:
    """One editor per role (owner@, editor@, viewer@example.org), all with PASSWORD."""
    with app.app_context():
        ids = {}
        for role, email in ROLES.items():
            editor = create_editor(email, PASSWORD)
            editor.role = Role(role)
            db.session.flush()
            ids[role] = editor.id
        db.session.commit()
        return ids


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/admin/login").get_data(as_text=True)
    data = {"email": email, "password": password}
    if "csrf_token" in page:  # absent when a test turns WTF_CSRF_ENABLED off
        data["csrf_token"] = csrf_token(page)
    return client.post("/admin/login", data=data)


def make_objects(app: Flask) -> dict[str, Any]:
    """URL values for every admin route: an id of each kind (a target editor, not a role's)."""
    with app.app_context():
        weekly = db.session.query(MailingList).filter_by(slug="weekly").one()
        article = Article(guid="g1", link="https://news.example.org/1", title="Story 1")
        digest = Digest(list_id=weekly.id, slug="weekly-1", subject="Weekly 1")
        reader = Subscriber(email="reader@example.org", address_hash=address_hash("r@x.org"))
        target = create_editor("target@example.org", PASSWORD)
        job = SubscriberImport(list_id=weekly.id, confirmed=False)
        invitation = EditorInvite(
            email="new@example.org",
            role=Role.editor,
            nonce="n",
            expires_at=utcnow() + timedelta(hours=1),
        )
        db.session.add_all([article, digest, reader, job, invitation])
        db.session.flush()
        # The target's trusted browser: no role may forget another editor's (404).
        device = TrustedDevice(
            editor_id=target.id,
            nonce_hash="0" * 64,
            created_at=utcnow(),
            last_used_at=utcnow(),
            label="firefox/linux",
        )
        db.session.add(device)
        db.session.commit()
        return {
            "article_id": article.id,
            "digest_id": digest.id,
            "list_id": weekly.id,
            "subscriber_id": reader.id,
            "import_id": job.id,
            "editor_id": target.id,
            "invite_id": invitation.id,
            "device_id": device.id,
            "action": "pause",
        }
