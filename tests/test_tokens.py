"""Signed link tokens: the fast maker's tokens are itsdangerous tokens, checked by itsdangerous."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from mailer.tokens import ExpiredToken, InvalidToken, make_token, read_token

DATA = {"u": "k3J9xQ2mWn8pLr5tYv7aBc", "h": "0123456789abcdef", "l": 7}


def test_a_token_is_what_itsdangerous_makes_and_reads(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.25)
    with app.app_context():
        token = make_token("unsubscribe", DATA)
        reference = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="mailer.unsubscribe")
        assert token == reference.dumps(DATA)
        assert reference.loads(token) == DATA
        assert read_token("unsubscribe", token) == DATA


def test_a_token_is_bound_to_its_purpose_key_and_bytes(app: Flask) -> None:
    with app.app_context():
        token = make_token("unsubscribe", DATA)
        with pytest.raises(InvalidToken):
            read_token("preferences", token)
        payload, stamp, signature = token.split(".")
        forged = make_token("unsubscribe", {**DATA, "l": 8}).split(".")[0]
        with pytest.raises(InvalidToken):
            read_token("unsubscribe", f"{forged}.{stamp}.{signature}")
        app.config["SECRET_KEY"] = "another-secret-key-of-enough-length"
        with pytest.raises(InvalidToken):
            read_token("unsubscribe", token)
        assert read_token("unsubscribe", make_token("unsubscribe", DATA)) == DATA


def test_an_old_token_expires_with_its_payload_readable(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        monkeypatch.setattr(time, "time", lambda: 1_790_000_000.0)
        token = make_token("confirm", DATA)
        monkeypatch.setattr(time, "time", lambda: 1_790_000_000.0 + 3 * 86400)
        with pytest.raises(ExpiredToken) as expired:
            read_token("confirm", token, max_age=timedelta(days=2))
        assert expired.value.data == DATA
        assert read_token("confirm", token, max_age=timedelta(days=4)) == DATA
