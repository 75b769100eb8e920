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


def test_migration_0008_puts_stored_list_names_and_subjects_on_one_line(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE mailing_list SET name = :name WHERE slug = 'weekly'"),
                {"name": "Weekly\r\nX-Injected: yes"},
            )
        upgrade()
        with db.engine.connect() as conn:
            name = conn.execute(text("SELECT name FROM mailing_list WHERE slug = 'weekly'"))
            assert name.scalar() == "Weekly X-Injected: yes"
        db.session.remove()
        downgrade(revision="base")
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_migration_0019_adds_trusted_devices_that_go_with_their_editor(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0018")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO editor (id, email, password_hash, created_at, role)"
                    " VALUES (7, 'e@example.org', 'x', CURRENT_TIMESTAMP, 'editor')"
                )
            )
        upgrade(revision="0019")
        insert = text(
            "INSERT INTO trusted_device (editor_id, nonce_hash, created_at, last_used_at, label)"
            " VALUES (7, :hash, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'firefox/linux')"
        )
        with db.engine.begin() as conn:
            conn.execute(insert, {"hash": "a" * 64})
            conn.execute(text("DELETE FROM editor WHERE id = 7"))
            assert conn.execute(text("SELECT count(*) FROM trusted_device")).scalar() == 0
        db.session.remove()
        downgrade(revision="0018")
        with db.engine.connect() as conn:
            tables = set(db.inspect(conn).get_table_names())
        assert "trusted_device" not in tables and "editor" in tables
        downgrade(revision="base")
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
