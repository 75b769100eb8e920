"""One-time links work once, even when two requests carry the same link at the same moment."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import update

from mailer.extensions import db
from mailer.models import Subscriber
from mailer.subscriptions import links
from tests.test_links import confirmed


def test_a_second_use_that_read_the_link_before_the_first_one_spent_it_is_refused(
    app: Flask,
) -> None:
    confirmed(app)
    with app.app_context():
        subscriber = db.session.query(Subscriber).one()
        token = links.one_time_token(subscriber, "data")
        reader = links.subscriber_from_token("data", token)  # this request read the link...
        with db.engine.begin() as other:  # ...while another request used it and committed
            other.execute(
                update(Subscriber).values(one_time_counter=Subscriber.one_time_counter + 1)
            )
        with pytest.raises(links.SpentLink):
            links.use_once(reader)
        db.session.rollback()


def test_using_a_link_spends_it(app: Flask) -> None:
    confirmed(app)
    with app.app_context():
        subscriber = db.session.query(Subscriber).one()
        token = links.one_time_token(subscriber, "erase")
        links.use_once(links.subscriber_from_token("erase", token))
        db.session.commit()
        with pytest.raises(links.SpentLink):
            links.subscriber_from_token("erase", token)
