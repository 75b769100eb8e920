"""The digest's greeting in each reader's language (issue 12): a sentence per language with a
name and one without ("Здравствуйте, Сэм!" / "Здравствуйте!"), rendered once per variant and
filled per reader, the name escaped in the HTML part and isolated in a right-to-left one."""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask

from mailer.digests import outbox, sending
from mailer.extensions import db
from mailer.models import Subscriber
from tests.conftest import SmtpServer
from tests.variant_helpers import make_story_digest

FSI, PDI = "\u2068", "\u2069"


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content())


def test_each_language_greets_a_reader_with_and_without_a_name(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    made = make_story_digest(app, {"en": 2, "ru": 2, "fa": 2, "es": 1})
    names = {"en0": "Ada", "ru0": "Сэм", "fa0": "<b>Sam</b>", "es0": "Inés"}
    with app.app_context():
        for ids in made.reader_ids.values():
            for reader_id in ids:
                reader = db.session.get(Subscriber, reader_id)
                assert reader is not None
                reader.name = names.get(reader.email.split("@")[0])
        db.session.commit()
        assert outbox.start(made.digest_id) == 7
        db.session.commit()
        for lo, hi in outbox.batch_ranges(made.digest_id, 10):
            sending.send_batch(made.digest_id, lo, hi)
    mails = {r.rcpt_tos[0].split("@")[0]: _parts(r.message) for r in smtp_server.wait_for(7)}

    expected = {
        "en0": ("Hello Ada,", "Hello Ada,"),
        "en1": ("Hello,", "Hello,"),
        "ru0": ("Здравствуйте, Сэм!", "Здравствуйте, Сэм!"),
        "ru1": ("Здравствуйте!", "Здравствуйте!"),
        "es0": ("Hola, Inés:", "Hola, Inés:"),
        # The name set apart from the right-to-left sentence, and text (not markup) in HTML.
        "fa0": (f"سلام {FSI}<b>Sam</b>{PDI}،", f"سلام {FSI}&lt;b&gt;Sam&lt;/b&gt;{PDI}،"),
        "fa1": ("سلام،", "سلام،"),
    }
    for reader, (text_greeting, html_greeting) in expected.items():
        text, html = mails[reader]
        assert f"\n{text_greeting}\n" in text, (reader, text[:300])
        assert f'<p class="intro" style="margin: 0 0 14px;">{html_greeting}</p>' in html, reader
    assert "Здравствуйте, !" not in mails["ru1"][0] and "<b>Sam" not in mails["fa0"][1]
