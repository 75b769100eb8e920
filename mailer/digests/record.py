"""The record of each accepted message: the step that keeps a crash to one repeated message.

`send_batch` records every message the SMTP server accepted as `sent`, in a transaction of
its own, before it sends the next. This is the engine's hot path, so it goes through the
DBAPI connection directly, with the statement written once: SQLAlchemy's execute and a
separate COMMIT cost more than the UPDATE (measured with `make bench`, BENCH_PROFILE=cprofile).
A single statement in autocommit mode is its own transaction, as durable as BEGIN, UPDATE,
COMMIT and one round trip shorter on PostgreSQL.

DELIVERY_SYNC_COMMIT=off lets PostgreSQL acknowledge a record before it is on disk
(`synchronous_commit = off`, for these statements only). A crash of the database server,
not a restart, can then forget the last fraction of a second of records, and those
messages go out again when the reaper hands their rows out. SQLite's equivalent is its
WAL `synchronous=NORMAL` (mailer.extensions), which loses nothing unless the machine does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from mailer.extensions import db
from mailer.models import Delivery, DeliveryStatus, utcnow


class Record:
    """Records one delivery `sent`, if the caller still holds its lease."""

    __slots__ = ("cursor", "sql", "to_db")

    def __init__(self, cursor: Any, sql: str, to_db: Callable[[datetime], object]) -> None:
        self.cursor, self.sql, self.to_db = cursor, sql, to_db

    def __call__(self, delivery_id: int, owner: str, attempts: int) -> None:
        self.cursor.execute(self.sql, (self.to_db(utcnow()), attempts, delivery_id, owner))


class Recorder:
    """The record statement of one engine, and connections that run it."""

    def __init__(self, engine: Engine) -> None:
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        table = Delivery.__tablename__
        self.sql = (
            f"UPDATE {table} SET status = '{DeliveryStatus.sent.value}', sent_at = {mark}, "
            f"attempts = {mark}, lease_owner = NULL, lease_expires_at = NULL "
            f"WHERE id = {mark} AND lease_owner = {mark}"
        )
        sent_at = Delivery.__table__.c.sent_at.type.bind_processor(engine.dialect)
        self.to_db: Callable[[datetime], object] = sent_at or (lambda value: value)
        self.engine = engine

    @contextmanager
    def open(self, sync: bool = True) -> Iterator[Record]:
        """A Record on a pooled connection in autocommit mode, given back as it was found."""
        pooled = self.engine.raw_connection()
        dbapi: Any = pooled.driver_connection
        sqlite = type(dbapi).__module__ == "sqlite3"
        mode = "isolation_level" if sqlite else "autocommit"
        before = getattr(dbapi, mode)
        # sqlite3: no implicit BEGIN, so each statement commits; psycopg: autocommit.
        setattr(dbapi, mode, None if sqlite else True)
        cursor = dbapi.cursor()
        relaxed = not sync and not sqlite
        try:
            if relaxed:
                cursor.execute("SET synchronous_commit = off")
            yield Record(cursor, self.sql, self.to_db)
        finally:
            try:
                if relaxed:
                    cursor.execute("RESET synchronous_commit")
                cursor.close()
                setattr(dbapi, mode, before)
            except Exception:  # the connection broke (the database went away): drop it
                pooled.invalidate()
            pooled.close()  # back to the pool


_recorders: dict[Engine, Recorder] = {}


def recorder() -> Recorder:
    """The Recorder of the app's database engine, made once per process."""
    engine = db.engine
    if engine not in _recorders:
        _recorders[engine] = Recorder(engine)
    return _recorders[engine]
