"""Erase leaves nothing (audit M6): after a whole life, no table and no Redis key holds the
address (in any spelling) or the name.

The life, through the real parts: the sign-up form, the confirmation mail over SMTP and
its link, a digest delivered, a digest the server refused with a reply echoing the
address, a soft and a hard bounce, a complaint (ARF) and an unsubscribe mail handed to the
bounce receiver over LMTP, a Mailgun webhook event; then erase.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import BounceEvent, BounceKind, Delivery, DeliveryStatus, Suppression
from mailer.verp import verp_address
from tests import full_life as life
from tests.address_strategies import leaks

ADDRESS = "Journalist.Amina@Example.org"  # as typed; stored lower-cased
NAME = "Amina Haddad-Şahin"


@pytest.fixture
def mailbox() -> Iterator[tuple[life.Mailbox, str]]:
    with life.mail_server() as server:
        yield server


@pytest.fixture
def config_overrides(mailbox: tuple[life.Mailbox, str]) -> dict[str, Any]:
    return life.config(mailbox[1])


def text_columns(app: Flask) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text, JSON and binary column of every table."""
    kinds = (sa.String, sa.Text, sa.JSON, sa.LargeBinary)
    found = []
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, kinds)]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    found.append((table.name, column.name, str(value)))
    return found


def redis_dump(url: str) -> list[tuple[str, str]]:
    """(key, value) of every key of the app's Redis database, whatever its type."""
    client = redis_lib.Redis.from_url(url)
    dump = []
    for key in client.scan_iter("*"):
        kind = client.type(key).decode()
        if kind == "string":
            values: list[Any] = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [f"{k!r}={v!r}" for k, v in client.hgetall(key).items()]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        else:
            values = [kind]
        text = " ".join(
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
        )
        dump.append((key.decode("utf-8", "replace"), text))
    return dump


def found_in(text: str) -> list[str]:
    """Every spelling of the address, its local part alone, the name or its surname."""
    folded = text.casefold()
    hits = leaks(text, ADDRESS)
    hits += [w for w in ("journalist.amina", "journalist%2eamina") if w in folded]
    hits += [w for w in (NAME, "Haddad-Şahin", "Haddad") if w.casefold() in folded]
    return hits


def test_after_a_whole_life_erase_leaves_no_address_and_no_name(
    app: Flask, client: FlaskClient, mailbox: tuple[life.Mailbox, str]
) -> None:
    server, _ = mailbox
    address = ADDRESS.lower()
    assert life.sign_up(client, ADDRESS, NAME) in (302, 303)
    life.confirm(app, client, server, address)
    delivered = life.digest(app)
    (message,) = [m for m in server.messages_to(address) if m["List-Unsubscribe"]]
    server.refused.add(address)
    refused = life.digest(app)  # 550 with the address and its local part in the reply
    server.refused.clear()
    with life.bounce_receiver(app) as port:
        with app.app_context():
            verp = verp_address(delivered)
        for name, msgid in [("postfix_soft.eml", "soft-1"), ("postfix_hard.eml", "hard-1")]:
            life.to_receiver(port, life.bounce_of(app, name, delivered, address, msgid), verp)
        response = client.post(
            "/api/v1/webhooks/mailgun", json=life.mailgun_event(app, delivered, address)
        )
        assert response.get_json() == {"status": "recorded"}
        request = (
            f"From: {NAME} <{address}>\r\nTo: {life.mailto_of(message)}\r\n"
            "Subject: unsubscribe\r\n\r\nPlease stop.\r\n"
        ).encode()
        life.to_receiver(port, request, life.mailto_of(message))
        life.to_receiver(
            port, life.bounce_of(app, "arf_complaint.eml", delivered, address, "arf"), verp
        )
    with app.app_context():  # the life happened as described
        kinds = sorted(e.kind.value for e in db.session.scalars(select(BounceEvent)))
        assert kinds == sorted(["soft", "hard", "soft", "complaint"])
        assert all(e.attributed for e in db.session.scalars(select(BounceEvent)))
        failed = db.session.get(Delivery, refused)
        assert failed is not None and failed.status == DeliveryStatus.failed
        assert failed.smtp_code == 550 and failed.error
        db.session.remove()
    before = [hit for _, _, value in text_columns(app) for hit in found_in(value)]
    assert before, "the life left the address nowhere: the check below would prove nothing"

    life.erase(app)

    leftovers = [
        (table, column, value[:200])
        for table, column, value in text_columns(app)
        if found_in(value)
    ]
    assert leftovers == []
    in_redis = [(k, v[:200]) for k, v in redis_dump(app.config["REDIS_URL"]) if found_in(k + v)]
    assert in_redis == []
    with app.app_context():  # what stays: counts, codes, the keyed hash
        assert db.session.scalar(select(sa.func.count(Suppression.id))) == 1
        assert db.session.scalar(select(sa.func.count(BounceEvent.id))) == 4
        rows = db.session.scalars(select(Delivery)).all()
        assert {(d.subscriber_id, d.error) for d in rows} == {(None, None)}
        assert {d.smtp_code for d in rows} == {None, 550}
        assert BounceKind.complaint in {e.kind for e in db.session.scalars(select(BounceEvent))}
