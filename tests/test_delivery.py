"""The delivery leaf package: message building and SMTP URL parsing."""

from __future__ import annotations

import re
from email import message_from_bytes, message_from_string
from email.policy import default

import pytest

from mailer.delivery import Email, SmtpServer, SmtpUrlError


def make_email(**extra: object) -> Email:
    fields: dict[str, object] = {
        "to": "a@example.org",
        "subject": "Hi",
        "text": "x" * 300 + "\n",
        "sender": "News <news@example.org>",
        "html": "<p>" + "y" * 2000 + "</p>",
    }
    fields.update(extra)
    return Email(**fields)  # type: ignore[arg-type]


def test_serialized_message_has_crlf_and_short_lines() -> None:
    """smtplib sends bytes as they are: bare LFs made one 5 KB 'line' that servers refuse."""
    raw = make_email().as_bytes()
    assert b"\r\n" in raw
    assert re.search(rb"(?<!\r)\n", raw) is None
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_message_headers() -> None:
    msg = make_email(headers={"List-Id": "Weekly <weekly.example.org>"}).to_message()
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"] and msg["List-Id"] == "Weekly <weekly.example.org>"
    assert msg.get_content_type() == "multipart/alternative"
    assert make_email().envelope_sender == "news@example.org"


@pytest.mark.parametrize("to", ["ёлка@пример.рф", "مريم@example.org", "josé@example.org"])
def test_an_internationalised_recipient_is_written_in_utf8_not_in_encoded_words(to: str) -> None:
    """RFC 6532: the address goes as UTF-8 (it is sent with SMTPUTF8); an encoded word in an
    address is not allowed (RFC 2047 5), and clients show it as a broken address."""
    raw = make_email(to=to).as_bytes()
    assert f"To: {to}\r\n".encode() in raw and b"=?utf-8?" not in raw.partition(b"\r\n\r\n")[0]
    parsed = message_from_string(raw.decode(), policy=default)
    assert parsed["To"].addresses[0].addr_spec == to
    ascii_raw = make_email().as_bytes()
    assert ascii_raw.isascii()


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        make_email(subject="Hi\r\nBcc: victim@example.org").to_message()


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "starttls", "user"),
    [
        ("smtp://mail.example.org", "mail.example.org", 25, False, "require", None),
        ("smtps://u%40x:p%3Aw@mail.example.org", "mail.example.org", 465, True, "off", "u@x"),
        ("smtp://u:p@127.0.0.1:2525?starttls=require", "127.0.0.1", 2525, False, "require", "u"),
    ],
)
def test_smtp_url(
    url: str, host: str, port: int, tls: bool, starttls: str, user: str | None
) -> None:
    server = SmtpServer.from_url(url)
    assert (server.host, server.port, server.tls, server.starttls, server.username) == (
        host,
        port,
        tls,
        starttls,
        user,
    )


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://h?starttls=maybe"])
def test_bad_smtp_url(url: str) -> None:
    with pytest.raises(SmtpUrlError):
        SmtpServer.from_url(url)


def test_a_long_list_unsubscribe_url_stays_one_literal_url() -> None:
    """Folding must not turn the one-click URL into an RFC 2047 encoded word (RFC 8058)."""
    url = "https://news.example.org/unsubscribe/" + "Ab3_-" * 40
    mailto = "mailto:bounces+u12.0123456789ab@example.org?subject=unsubscribe"
    header = f"<{url}>, <{mailto}>"
    raw = make_email(
        headers={"List-Unsubscribe": header, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    ).as_bytes()
    assert b"=?utf-8?" not in raw
    assert url.encode() in raw
    from email import policy

    parsed = message_from_bytes(raw, policy=policy.default)
    assert " ".join(str(parsed["List-Unsubscribe"]).split()) == header
