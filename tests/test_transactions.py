"""A savepoint nests inside the caller's transaction on every database: flush never commits."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import MailingList


def test_a_released_savepoint_is_undone_by_the_outer_rollback(app: Flask) -> None:
    with app.app_context():
        before = db.session.scalar(select(func.count(MailingList.id)))
        with db.session.begin_nested():
            db.session.add(MailingList(slug="tmp", name="Temporary"))
        db.session.rollback()
        assert db.session.scalar(select(func.count(MailingList.id))) == before
