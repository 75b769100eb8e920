"""A batch's lease: renewed by a thread while the batch runs, left to lapse once it is gone."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from mailer.digests import control, lease, outbox, sending
from mailer.digests.lease import LEASE, Heartbeat
from mailer.extensions import db
from mailer.models import Delivery, utcnow
from tests.conftest import SmtpServer
from tests.test_sending import add_subscribers, leased_deliveries, make_digest, start


def expiry(app: Flask, delivery_id: int) -> float:
    with app.app_context():
        value = db.session.scalar(
            select(Delivery.lease_expires_at).where(Delivery.id == delivery_id)
        )
        db.session.rollback()
        assert value is not None
        return (value - utcnow()).total_seconds()


def test_the_lease_is_renewed_while_the_batch_runs_and_no_longer_after(app: Flask) -> None:
    (mine,) = leased_deliveries(app, 1, owner="me")
    with app.app_context():
        db.session.execute(
            Delivery.__table__.update().values(lease_expires_at=utcnow() + timedelta(seconds=1))
        )
        db.session.commit()
        engine = db.engine
    with Heartbeat(engine, "me", every=0.05):
        deadline = time.monotonic() + 10
        while expiry(app, mine) < LEASE.total_seconds() - 5:  # renewed: LEASE ahead again
            assert time.monotonic() < deadline
            time.sleep(0.05)
    left = expiry(app, mine)
    time.sleep(0.3)
    assert expiry(app, mine) < left  # stopped with the batch: the lease runs down


def test_a_renewal_touches_only_the_owners_rows(app: Flask) -> None:
    (mine,) = leased_deliveries(app, 1, owner="me")
    with app.app_context():
        engine = db.engine
    assert Heartbeat(engine, "someone else").renew() == 0
    assert Heartbeat(engine, "me").renew() == 1
    assert expiry(app, mine) > LEASE.total_seconds() - 5


def test_a_heartbeat_that_cannot_renew_says_so_before_the_lease_lapses(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(lease, "clock", lambda: now[0])
    with app.app_context():
        beat = Heartbeat(db.engine, "me", every=0.01)

    def broken() -> int:
        raise RuntimeError("not a database error")  # the thread must outlive any error

    monkeypatch.setattr(beat, "renew", broken)
    with beat:
        assert beat.alive()
        now[0] += LEASE.total_seconds() / 2 - 1
        assert beat.alive()
        now[0] += 2  # half a lease without a renewal: the rows may soon be another's
        assert not beat.alive()
        time.sleep(0.1)
        assert beat._thread.is_alive()


def test_a_batch_whose_lease_is_not_renewed_stops_at_its_next_check(
    app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "clock", lambda: 0.0)  # looks every CHECK_EVERY messages
    monkeypatch.setattr(Heartbeat, "alive", lambda self: False)
    smtp_server.clear()
    add_subscribers(app, sending.CHECK_EVERY + 10)
    digest_id = make_digest(app)
    start(app, digest_id)
    with app.app_context():
        ((lo, hi),) = outbox.batch_ranges(digest_id, 1000)
        result = sending.send_batch(digest_id, lo, hi)
        assert result.sent == sending.CHECK_EVERY
        p = control.progress(digest_id)
        assert (p.sent, p.pending, p.sending) == (sending.CHECK_EVERY, 10, 0)
    assert len(smtp_server.received) == sending.CHECK_EVERY
