"""`flask db upgrade` builds exactly the schema the models describe, with the seeded list."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from mailer.extensions import db
from mailer.models import MailingList


def test_migrations_match_the_models_and_seed_weekly(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None and weekly.is_public and weekly.name == "Weekly updates"
        db.session.remove()
        downgrade(revision="base")
        upgrade()
        db.session.remove()
        downgrade(revision="base")
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
