"""Extensions, created unbound and bound by the app factory."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from mailer.keys import rate_limit_key

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
# Per-IP limits count a keyed hash of the client's address: no raw IP in Redis (audit L2).
limiter = Limiter(key_func=rate_limit_key)


def init_migrate(app: Flask) -> Any:
    """Flask-Migrate bound to the app (its `db` commands, flask_migrate.upgrade()...); the
    real app.extensions["migrate"]. Imported only when first needed: Alembic is about 0.1 s
    of CPU at the start of every `mailer` command (issue 13's `mailer digest send` figure)."""
    if not isinstance(app.extensions.get("migrate"), LazyMigrate):
        return app.extensions["migrate"]
    from flask_migrate import Migrate

    from mailer import ROOT

    Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    return app.extensions["migrate"]


class LazyMigrate:
    """app.extensions["migrate"] until something reads it (flask_migrate's commands and
    functions, migrations/env.py): then Flask-Migrate is bound, and the read goes to it."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(init_migrate(self.app), name)


QUEUES = ("mail", "bulk", "celery")
# Every task lives in one of these (mailer/tasks/); a worker imports them at start.
TASK_MODULES = (
    "mailer.tasks.mail",
    "mailer.tasks.digests",
    "mailer.tasks.imports",
    "mailer.tasks.housekeeping",
    "mailer.tasks.accounts",
)


class QueueMissing(OperationalError):
    """This process has no Redis to queue on (development without `make run`): raised like
    an unreachable Redis, so every caller that survives a Redis outage survives this."""


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to the Flask app: every task runs inside an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

        def apply_async(self, *args: Any, **kwargs: Any) -> Any:
            # Never publish to a guessed Redis (mailer/dev/redis_state.py).
            if app.config.get("REDIS_MISSING"):
                raise QueueMissing(app.config["REDIS_MISSING"])
            return super().apply_async(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask, include=list(TASK_MODULES))
    celery_app.config_from_object(
        {
            "broker_url": app.config["REDIS_URL"],
            "task_ignore_result": True,
            "task_serializer": "json",
            "accept_content": ["json"],
            "task_default_queue": "celery",
            "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
            "task_routes": {
                "mailer.send_confirmation": {"queue": "mail"},
                "mailer.send_already_subscribed": {"queue": "mail"},
                "mailer.send_link_mail": {"queue": "mail"},
                "mailer.send_editor_invite": {"queue": "mail"},
                "mailer.send_editor_notice": {"queue": "mail"},
                "mailer.send_test_digest": {"queue": "mail"},
                "mailer.send_review_mail": {"queue": "mail"},
                "mailer.send_pause_notice": {"queue": "mail"},
                "mailer.send_digest_batch": {"queue": "bulk"},
            },
            "broker_connection_retry_on_startup": True,
            # Fail fast in the web request when Redis is away; the sweeper re-enqueues.
            "task_publish_retry_policy": {
                "max_retries": 2,
                "interval_start": 0.1,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
            "broker_transport_options": {"visibility_timeout": 3600},
            "worker_prefetch_multiplier": 1,
            "worker_hijack_root_logger": False,
            "beat_schedule": {
                "sweep-confirmations": {
                    "task": "mailer.sweep_confirmations",
                    "schedule": 60.0,
                },
                # With the 20 s lease (digests/lease.py): a dead worker's rows move on in 30 s.
                "reap-deliveries": {"task": "mailer.reap_deliveries", "schedule": 10.0},
                "sweep-subscriber-imports": {
                    "task": "mailer.sweep_subscriber_imports",
                    "schedule": 300.0,
                },
                "process-bounces": {"task": "mailer.process_bounces", "schedule": 120.0},
                "apply-retention": {"task": "mailer.apply_retention", "schedule": 3600.0},
                "poll-bounce-mailbox": {"task": "mailer.poll_bounce_mailbox", "schedule": 60.0},
                "scheduled-digests": {"task": "mailer.send_scheduled_digests", "schedule": 300.0},
                "poll-feeds": {
                    "task": "mailer.poll_feeds",
                    "schedule": 900.0,
                    "options": {"queue": "celery"},
                },
            },
            "timezone": "UTC",
        }
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: enforce foreign keys, wait for a lock instead of failing at once, WAL."""
    if type(dbapi_connection).__module__ == "sqlite3":
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        # WAL: readers never block the writer (web, workers and beat share the file), and a
        # commit is one append. NORMAL syncs at checkpoints: a crashed process loses nothing,
        # only a power cut can lose the last commits. PostgreSQL keeps synchronous commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(conn: Any, name: str) -> None:
    """SQLite: open the transaction before a first SAVEPOINT, so that RELEASE does not commit.

    Python's sqlite3 begins a transaction only before DML; a SAVEPOINT sent first would open
    its own, and releasing it would commit what a caller meant to flush only (SQLAlchemy's
    pysqlite notes, "Serializable isolation / Savepoints / Transactional DDL").
    """
    dbapi = conn.connection.dbapi_connection
    if type(dbapi).__module__ == "sqlite3" and not dbapi.in_transaction:
        dbapi.execute("BEGIN")
