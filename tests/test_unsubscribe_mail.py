"""The mailto: of List-Unsubscribe: mail to it unsubscribes that reader from that list."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from mailer.bounces import service
from mailer.extensions import db
from mailer.models import BounceEvent, Subscriber, Subscription, SubscriptionStatus
from tests.conftest import SmtpServer
from tests.test_sending import add_subscribers, make_digest, send_all, start

REQUEST = b"From: reader@example.org\r\nSubject: unsubscribe\r\n\r\nPlease stop.\r\n"


def statuses(app: Flask) -> dict[str, SubscriptionStatus]:
    with app.app_context():
        rows = db.session.execute(
            select(Subscriber.email, Subscription.status).join(Subscription)
        ).all()
        return {email: status for email, status in rows}


def test_mail_to_the_list_unsubscribe_address_unsubscribes_that_reader_only(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    add_subscribers(app, 2)
    digest_id = make_digest(app)
    start(app, digest_id)
    send_all(app, digest_id)
    message = next(
        r.message for r in smtp_server.wait_for(2) if r.rcpt_tos == ["reader0@example.org"]
    )
    header = message["List-Unsubscribe"]
    assert header.startswith("<http://localhost/unsubscribe/")
    match = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", header)
    assert match, header
    address = match.group(1)
    assert len(address.partition("@")[0]) <= 64  # a valid local part

    forged = re.sub(r"\.([0-9a-f]{12})@", ".000000000000@", address)
    with app.app_context():
        assert service.record(REQUEST, [forged]) is not None  # stored as an unattributed event
        db.session.commit()
    assert set(statuses(app).values()) == {SubscriptionStatus.confirmed}

    with app.app_context():
        assert service.record(REQUEST, [address]) is None
        db.session.commit()
        events = db.session.scalars(select(BounceEvent)).all()
        assert len(events) == 1 and not events[0].attributed  # only the forged one
    assert statuses(app) == {
        "reader0@example.org": SubscriptionStatus.unsubscribed,
        "reader1@example.org": SubscriptionStatus.confirmed,
    }
