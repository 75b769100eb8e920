"""Key handling (audit L5): SECRET_KEY's strength, rotation with SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from mailer import create_app
from mailer.bounces import service as bounces
from mailer.extensions import db
from mailer.keys import KeyConfigError
from mailer.models import Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash
from mailer.subscriptions import links, service
from tests.bounce_helpers import bounce, sent_digest
from tests.conftest import SmtpServer, base_config, dispose, redis_db, reset_database

OLD_KEY = "the-old-secret-key-that-links-were-mailed-with"
NEW_KEY = secrets.token_urlsafe(48)
PINNED = "hex:" + secrets.token_hex(32)  # an ADDRESS_HASH_KEY
READER = "reader1@example.org"


@pytest.fixture
def config(database_url: str, redis_base_url: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return base_config(database_url, redis_db(redis_base_url, 1), smtp_server.url)


@pytest.mark.parametrize("key", ["x", "a" * 31, "é" * 15])
def test_production_refuses_a_short_secret_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(KeyConfigError, match="shorter than 32 bytes"):
        create_app({**config, "SECRET_KEY": key})


def test_the_short_key_error_does_not_suggest_keeping_it_as_a_fallback(
    config: dict[str, Any],
) -> None:
    with pytest.raises(KeyConfigError) as refused:
        create_app({**config, "SECRET_KEY": "changeme"})
    message = str(refused.value)
    assert "list the old key" not in message
    assert "never list" in message.lower() and "SECRET_KEY_FALLBACKS" in message


@pytest.mark.parametrize("weak", ["x", "changeme", "a" * 31, "é" * 15])
def test_production_refuses_a_short_fallback(config: dict[str, Any], weak: str) -> None:
    """Flask verifies session cookies with every fallback: a weak one lets anyone forge one."""
    with pytest.raises(KeyConfigError, match="SECRET_KEY_FALLBACKS.*shorter than 32 bytes"):
        create_app(
            {
                **config,
                "SECRET_KEY": NEW_KEY,
                "SECRET_KEY_FALLBACKS": [OLD_KEY, weak],
                "ADDRESS_HASH_KEY": PINNED,
            }
        )


def test_a_short_fallback_from_the_environment_is_refused(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f"{OLD_KEY},x")
    monkeypatch.setenv("ADDRESS_HASH_KEY", PINNED)
    with pytest.raises(KeyConfigError, match="SECRET_KEY_FALLBACKS"):
        create_app(config)


@pytest.mark.parametrize("weak", ["k", "a" * 31, "hex:00", "hex:" + "ab" * 31, "hex:" + "a" * 63])
def test_production_refuses_a_short_address_hash_key(config: dict[str, Any], weak: str) -> None:
    with pytest.raises(KeyConfigError, match="ADDRESS_HASH_KEY"):
        create_app({**config, "SECRET_KEY": NEW_KEY, "ADDRESS_HASH_KEY": weak})


@pytest.mark.parametrize(
    "strong",
    [
        "a hash key of 32 bytes, not guessed",
        "hex:" + secrets.token_hex(32),
        "hex:" + secrets.token_hex(48).upper(),
    ],
)
def test_a_long_enough_address_hash_key_is_accepted(config: dict[str, Any], strong: str) -> None:
    dispose(create_app({**config, "SECRET_KEY": NEW_KEY, "ADDRESS_HASH_KEY": strong}))


def test_development_accepts_a_short_secret_key(config: dict[str, Any]) -> None:
    dispose(create_app({**config, "SECRET_KEY": "x", "MAILER_ENV": "development"}))


def test_fallbacks_need_an_address_hash_key(config: dict[str, Any]) -> None:
    with pytest.raises(KeyConfigError, match="ADDRESS_HASH_KEY is not"):
        create_app({**config, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": [OLD_KEY]})


def test_fallbacks_come_from_the_environment(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    second, third = "another-old-key-" + secrets.token_urlsafe(24), "third-" + NEW_KEY[:32]
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f" {OLD_KEY},{second}  {third}")
    monkeypatch.setenv("ADDRESS_HASH_KEY", PINNED)
    app = create_app(config)
    assert app.config["SECRET_KEY_FALLBACKS"] == [OLD_KEY, second, third]
    dispose(app)


@pytest.fixture
def old_app(config: dict[str, Any], app: Flask) -> Iterator[Flask]:
    """The app as it ran before the rotation: OLD_KEY, no ADDRESS_HASH_KEY (the default)."""
    app.config["SECRET_KEY"] = OLD_KEY
    yield app


def rotated(config: dict[str, Any], old_app: Flask) -> Flask:
    """The operator's rotation: pin the address hash key, new SECRET_KEY, old one kept."""
    printed = old_app.test_cli_runner().invoke(args=["keys", "address-hash-key"])
    assert printed.exit_code == 0, printed.output
    return create_app(
        {
            **config,
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_FALLBACKS": [OLD_KEY],
            "ADDRESS_HASH_KEY": printed.output.strip(),
        }
    )


def test_links_mailed_before_a_rotation_still_unsubscribe(
    config: dict[str, Any], old_app: Flask
) -> None:
    with old_app.app_context():
        signup = service.subscribe(READER, lists=service.lists_by_slug(["weekly"]))
        db.session.commit()
        sub = db.session.get(Subscriber, signup.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = SubscriptionStatus.confirmed
        db.session.commit()
        unsubscribe, _preferences = links.link_tokens(sub, sub.subscriptions[0].list_id)
        data = {"u": sub.uid, "h": address_hash(READER)[:16], "l": sub.subscriptions[0].list_id}
        old_hash = address_hash(READER)
    forged = URLSafeTimedSerializer(secrets.token_urlsafe(48), salt="mailer.unsubscribe")
    app = rotated(config, old_app)
    try:
        client = app.test_client()
        assert client.get(f"/unsubscribe/{forged.dumps(data)}").status_code == 404
        assert client.post(f"/unsubscribe/{forged.dumps(data)}").status_code == 404
        assert client.get(f"/unsubscribe/{unsubscribe}").status_code == 200
        done = client.post(f"/unsubscribe/{unsubscribe}")
        assert "You are unsubscribed" in done.get_data(as_text=True)
        with app.app_context():
            assert address_hash(READER) == old_hash  # the suppression list still matches
            status = db.session.scalar(select(Subscription.status))
            assert status == SubscriptionStatus.unsubscribed
    finally:
        dispose(app)


def test_a_bounce_to_a_verp_address_made_before_a_rotation_is_attributed(
    config: dict[str, Any], old_app: Flask
) -> None:
    verp = sent_digest(old_app)[READER]
    app = rotated(config, old_app)
    try:
        with app.app_context():
            event = bounces.record(bounce("postfix_hard.eml", verp, READER), [verp])
            db.session.commit()
            assert event is not None and event.delivery_id is not None
            subscriber = db.session.get(Subscriber, event.subscriber_id)
            assert subscriber is not None and subscriber.email == READER
            forged = verp.replace(verp.split("+")[1].split(".")[1].split("@")[0], "0" * 12)
            other = bounces.record(bounce("postfix_hard.eml", forged, READER, "m2"), [forged])
            assert other is None or other.delivery_id is None
    finally:
        dispose(app)


def test_new_tokens_and_verp_addresses_use_the_new_key(config: dict[str, Any]) -> None:
    app = create_app(
        {
            **config,
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_FALLBACKS": [OLD_KEY],
            "ADDRESS_HASH_KEY": PINNED,
        }
    )
    from mailer.tokens import make_token
    from mailer.verp import delivery_from_verp, verp_address

    try:
        with app.app_context():
            token = make_token("unsubscribe", {"u": "x"})
            assert URLSafeTimedSerializer(NEW_KEY, salt="mailer.unsubscribe").loads(token)
            address = verp_address(7)
            app.config["SECRET_KEY_FALLBACKS"] = []
            assert delivery_from_verp(address) == 7
    finally:
        dispose(app)


# --- per-IP rate limits keep no IP address in Redis (audit L2) ---------------------------------


def redis_dump(app: Flask) -> bytes:
    """Every key and every value in the app's Redis database, as one blob."""
    r = app.extensions["redis"]
    out = []
    for key in r.scan_iter():
        kind = r.type(key)
        out.append(key)
        if kind == b"string":
            out.append(r.get(key) or b"")
        elif kind == b"hash":
            out += [b"%s=%s" % kv for kv in r.hgetall(key).items()]
        elif kind == b"list":
            out += r.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(r.smembers(key))
        elif kind == b"zset":
            out += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
    return b"\n".join(out)


@pytest.mark.parametrize(
    "ip", ["203.0.113.57", "2001:db8:85a3::8a2e:370:7334", "::ffff:203.0.113.57"]
)
def test_per_ip_limits_store_a_keyed_hash_not_the_address(config: dict[str, Any], ip: str) -> None:
    from tests.test_admin import login
    from tests.test_signup import signup

    app = create_app({**config, "RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "3 per minute"})
    try:
        reset_database(app)
        app.extensions["redis"].flushdb()
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = ip
        statuses = [signup(client, email=f"r{i}@example.org").status_code for i in range(4)]
        assert statuses == [303, 303, 303, 429]  # still counted per client
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "198.51.100.9"
        assert signup(other, email="o@example.org").status_code == 303
        assert login(client, password="a wrong password").status_code == 422
        dump = redis_dump(app).lower()
        assert b"limiter" in dump  # the limits really are in Redis
        for text in (ip, "203.0.113.", "2001:db8:85a3", "198.51.100."):
            assert text.encode() not in dump, text
    finally:
        dispose(app)


def test_an_expired_token_from_before_a_rotation_is_reported_as_expired(app: Flask) -> None:
    from datetime import timedelta

    from mailer.tokens import ExpiredToken, read_token

    old = URLSafeTimedSerializer(OLD_KEY, salt="mailer.confirm")
    token = old.dumps({"u": "x"})
    app.config.update(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY])
    with app.app_context(), pytest.raises(ExpiredToken):
        read_token("confirm", token, max_age=timedelta(seconds=-1))


def test_an_editor_session_survives_a_rotation(app: Flask) -> None:
    from mailer.admin.auth import create_editor
    from tests.test_admin import PASSWORD, login

    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    client = app.test_client()
    assert login(client).status_code == 303
    app.config.update(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]])
    assert client.get("/admin/").status_code == 200  # Flask verifies with the fallbacks


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    from mailer.keys import client_network

    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:bbbb::2")
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")
    assert client_network("203.0.113.5") != client_network("203.0.113.6")
    assert client_network("::ffff:203.0.113.5") == client_network("203.0.113.5")
