"""A HEAD request (link scanners, previews of a forwarded digest) never changes anything.

Flask answers HEAD with the GET view; a view that asked `method == "GET"` took HEAD for a POST,
and the unsubscribe link (exempt from CSRF: RFC 8058) unsubscribed whoever's link was probed.
"""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient

from tests.test_links import confirmation_link, confirmed, make_pending, statuses


def test_head_on_an_unsubscribe_link_keeps_the_subscription(app: Flask) -> None:
    tokens = confirmed(app, lists=("weekly", "alerts"))
    bare = app.test_client(use_cookies=False)
    for token in (tokens["unsubscribe"], tokens["unsubscribe_weekly"]):
        response = bare.head(f"/unsubscribe/{token}")
        assert response.status_code == 200
        assert response.get_data() == b""
    assert statuses(app) == {"weekly": "confirmed", "alerts": "confirmed"}


def test_head_on_a_confirmation_link_confirms_nothing(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    url = confirmation_link(app, outbox, make_pending(app))
    assert client.head(url).status_code == 200
    assert statuses(app) == {"weekly": "pending"}


def test_head_on_preferences_changes_nothing(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app, lists=("weekly", "alerts"))
    assert client.head(f"/preferences/{tokens['preferences']}").status_code == 200
    assert statuses(app) == {"weekly": "confirmed", "alerts": "confirmed"}
