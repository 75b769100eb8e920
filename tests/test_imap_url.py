"""BOUNCE_IMAP_URL: the password never crosses a network unencrypted or unchecked.

No IMAP server is needed: every refusal happens when the URL is read, before any
connection (tests/test_bounce_imap.py polls a real Dovecot on loopback).
"""

from __future__ import annotations

import pytest
from flask import Flask

from mailer.bounces import imap
from mailer.bounces.imap import ImapSettings, ImapUrlError, parse_url


@pytest.mark.parametrize(
    "url",
    [
        "imap://bounces:s3cret@mail.example.org/INBOX?starttls=off",
        "imap://bounces:s3cret@[2001:db8::143]?starttls=off",
        "imap://bounces:s3cret@localhost.example.org?starttls=off",
    ],
)
def test_plaintext_login_off_loopback_is_refused(url: str) -> None:
    with pytest.raises(ImapUrlError, match="starttls=off") as refused:
        parse_url(url)
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "imaps://bounces:s3cret@mail.example.org/INBOX?verify=off",
        "imap://bounces:s3cret@mail.example.org?verify=off",
    ],
)
def test_verify_off_off_loopback_is_refused(url: str) -> None:
    with pytest.raises(ImapUrlError, match="verify=off") as refused:
        parse_url(url)
    assert "s3cret" not in str(refused.value)


def test_settings_made_without_the_url_are_checked_too() -> None:
    with pytest.raises(ImapUrlError, match="starttls=off"):
        ImapSettings("mail.example.org", 143, "bounces", "s3cret", implicit_tls=False)


@pytest.mark.parametrize(
    ("url", "implicit", "starttls", "verify"),
    [
        ("imaps://b:p@mail.example.org/INBOX", True, False, True),
        ("imap://b:p@mail.example.org/INBOX", False, True, True),
        ("imap://b:p@127.0.0.1:1143/INBOX?starttls=off", False, False, True),
        ("imap://b:p@localhost?starttls=off", False, False, True),
        ("imaps://b:p@[::1]?verify=off", True, False, False),
    ],
)
def test_tls_or_loopback_is_accepted(
    url: str, implicit: bool, starttls: bool, verify: bool
) -> None:
    settings = parse_url(url)
    assert (settings.implicit_tls, settings.starttls, settings.verify) == (
        implicit,
        starttls,
        verify,
    )


def test_the_poll_command_refuses_a_plaintext_mailbox_off_loopback(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def connect(settings: ImapSettings) -> None:
        raise AssertionError("connected")

    monkeypatch.setattr(imap, "_connect", connect)
    app.config["BOUNCE_IMAP_URL"] = "imap://bounces:s3cret@mail.example.org/INBOX?starttls=off"
    result = app.test_cli_runner().invoke(args=["bounces", "poll"])
    assert result.exit_code != 0
    assert "starttls=off" in result.output and "s3cret" not in result.output
