"""MessageTemplate: built once, filled per recipient; parses back to exactly the filled text."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from mailer.delivery.template import MessageTemplate

MARKER = re.compile(r"%%mailer:(\w+)%%")
TEXT = (
    "Hello %%mailer:name%%,\n\n"
    + "A long line of the digest text. " * 20
    + "\nUnsubscribe: %%mailer:url%%\n"
)
HTML = (
    '<html><body><p style="font: 16px/1.5 Helvetica">Hello %%mailer:name%%, ünïcode '
    + "x" * 300
    + '</p><a href="%%mailer:url%%">Unsubscribe</a></body></html>'
)


def template() -> MessageTemplate:
    return MessageTemplate(
        subject="Semaine: liberté de la presse",
        sender="News <news@example.org>",
        text=TEXT,
        html=HTML,
        marker=MARKER,
        headers={"List-Id": "Weekly <weekly.example.org>"},
    )


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("name", ["Ada", "", '<b>Ada & "Co"</b>', "Zoë = 100% ✓", "x" * 300])
def test_filled_message_decodes_to_the_filled_parts(name: str) -> None:
    url = "https://news.example.org/unsubscribe/" + "A1b2-_" * 30
    raw = template().render(
        "reader@example.org",
        "<1.2@example.org>",
        {"name": name, "url": url},
        {"List-Unsubscribe": f"<{url}>"},
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 quoted-printable
    assert max(len(line) for line in head.split(b"\r\n")) <= 998  # RFC 5322
    assert re.search(rb"(?<!\r)\n", raw) is None
    msg = parse(raw)
    assert msg["To"] == "reader@example.org" and msg["Message-ID"] == "<1.2@example.org>"
    assert msg["Subject"] == "Semaine: liberté de la presse"
    assert msg["List-Unsubscribe"] == f"<{url}>" and msg["Date"]
    text = msg.get_body(("plain",))
    body = msg.get_body(("html",))
    assert text is not None and body is not None
    expected_text = TEXT.replace("%%mailer:name%%", name).replace("%%mailer:url%%", url)
    assert text.get_content().replace("\r\n", "\n") == expected_text
    expected_html = HTML.replace("%%mailer:name%%", html.escape(name)).replace(
        "%%mailer:url%%", url
    )
    assert body.get_content().replace("\r\n", "\n") == expected_html


def test_a_value_that_looks_like_a_marker_is_not_expanded() -> None:
    raw = template().render(
        "r@example.org", "<1@x>", {"name": "%%mailer:url%%", "url": "https://u/"}
    )
    text = parse(raw).get_body(("plain",))
    assert text is not None and "Hello %%mailer:url%%," in text.get_content()


def test_missing_value_and_header_injection_are_refused() -> None:
    with pytest.raises(KeyError):
        template().render("r@example.org", "<1@x>", {"name": "Ada"})
    with pytest.raises(ValueError):
        template().render("r@example.org\r\nBcc: x@example.org", "<1@x>", {"name": "", "url": ""})


def test_a_long_subject_in_any_script_folds_with_crlf() -> None:
    # Bare line feeds in the head are refused by Postfix (smtpd_forbid_bare_newline) and
    # would send the message down the slow path.
    subject = "Новости недели: свобода слова, права журналистов и цензура в мире " * 2
    raw = MessageTemplate(
        subject=subject,
        sender="News <news@example.org>",
        text=TEXT,
        html=HTML,
        marker=MARKER,
        headers={},
    ).render("r@example.org", "<1@x>", {"name": "", "url": "https://u/"})
    assert re.search(rb"(?<!\r)\n", raw) is None
    assert parse(raw)["Subject"] == subject


def test_render_data_is_the_message_dot_stuffed_once() -> None:
    dotted = MessageTemplate(
        subject="Dots",
        sender="News <news@example.org>",
        text=".starts with a dot\n%%mailer:name%%\n.\n..two\n",
        html="<p>\n.class { color: red }\n%%mailer:url%%</p>",
        marker=MARKER,
        headers={},
    )
    values = {"name": ".Ada", "url": ".https://u/"}
    raw = dotted.render("r@example.org", "<1@x>", values)
    data = dotted.render_data("r@example.org", "<1@x>", values)
    # Same Date header: compare without it.
    strip = re.compile(rb"^Date: .*\r\n", re.MULTILINE)
    stuffed = strip.sub(b"", raw).replace(b"\r\n.", b"\r\n..")
    assert strip.sub(b"", data) == stuffed
    assert b"\r\n..starts with a dot" in data and b"\r\n..Ada" in data
    assert strip.sub(b"", data.unstuffed()) == strip.sub(b"", raw)
    text = parse(data.unstuffed()).get_body(("plain",))
    assert text is not None
    assert text.get_content().replace("\r\n", "\n") == ".starts with a dot\n.Ada\n.\n..two\n"
