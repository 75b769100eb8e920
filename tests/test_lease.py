"""A batch's lease: renewed by a thread while the batch runs, left to lapse once it is gone."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from mailer.digests.lease import LEASE, Heartbeat
from mailer.extensions import db
from mailer.models import Delivery, utcnow
from tests.test_sending import leased_deliveries


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
