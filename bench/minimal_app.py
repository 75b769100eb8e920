"""The least a sign-up must cost, for comparison: validate, insert, enqueue. Bench only.

`gunicorn -c gunicorn.conf.py 'bench.minimal_app:create_minimal_app()'` with DATABASE_URL and
REDIS_URL, as the sign-up benchmark (bench/signup_load.py) runs it, after creating the table.
Never part of the production routes.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from celery import Celery
from email_validator import EmailNotValidError, validate_email
from flask import Flask, redirect, request
from flask.typing import ResponseReturnValue
from sqlalchemy.dialects import postgresql, sqlite

import mailer.extensions  # noqa: F401  (the same SQLite pragmas as the app: WAL, busy timeout)
from mailer import _sqlalchemy_url

metadata = sa.MetaData()
signups = sa.Table(
    "bench_minimal_signup",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


def create_minimal_app() -> Flask:
    """POST /signup: a valid address is inserted (once) and a task is queued for it."""
    # The same pool as the app's under gunicorn.conf.py (DATABASE_POOL_SIZE: one per thread).
    engine = sa.create_engine(
        _sqlalchemy_url(os.environ["DATABASE_URL"]),
        pool_pre_ping=True,
        pool_size=int(os.environ.get("DATABASE_POOL_SIZE") or 5),
    )
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    celery = Celery("bench-minimal", broker=os.environ["REDIS_URL"])
    celery.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
    app = Flask(__name__)

    @app.post("/signup")
    def signup() -> ResponseReturnValue:
        try:
            address = validate_email(request.form.get("email", ""), check_deliverability=False)
        except EmailNotValidError:
            return "Enter a valid email address.", 422
        insert = dialect.insert(signups).values(email=address.normalized.lower())
        with engine.begin() as conn:
            new_id = conn.execute(
                insert.on_conflict_do_nothing().returning(signups.c.id)
            ).scalar_one_or_none()
        if new_id is not None:
            celery.send_task("bench.minimal_signup", args=[new_id], queue="mail")
        return redirect("/check-inbox", 303)

    return app
