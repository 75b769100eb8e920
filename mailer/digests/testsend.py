"""A digest's test send: the real message for a sample reader, to the address an editor gave.

Built by the engine's own builder (mailer.digests.compose.Composer: same headers, same
List-Unsubscribe with its mailto, same DKIM signature), with "[Test]" before the subject.
The address waits in Redis under a random id for an hour, so the queued task carries that
id and never an address (audit I1); the key is deleted once the mail is sent.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from mailer.delivery.dkim import configured_signer
from mailer.delivery.message import sender_address, sender_domain
from mailer.digests import variants
from mailer.digests.compose import Composer
from mailer.digests.content import build_template, render_digest
from mailer.extensions import db
from mailer.models import Digest

KEY = "mailer:test-send:{}"
KEEP = timedelta(hours=1)  # longer than the task's retries (about 10 minutes)
SUBJECT = "[Test] {}"
SAMPLE_NAME = "Sam"


@dataclass(frozen=True)
class SampleReader:
    """A made-up reader: its links carry a uid no subscriber has, so they do nothing."""

    email: str
    uid: str = "sample"
    name: str | None = SAMPLE_NAME
    token_version: int = 0


@dataclass(frozen=True)
class TestMessage:
    envelope_from: str
    to: str
    data: bytes


def remember(digest_id: int, address: str, language: str | None = None) -> str:
    """Keep the address (and language) for a test send of the digest; the id to queue."""
    test_id = secrets.token_urlsafe(16)
    payload = json.dumps({"digest": digest_id, "to": address, "language": language})
    current_app.extensions["redis"].set(KEY.format(test_id), payload, ex=KEEP)
    return test_id


def forget(test_id: str) -> None:
    current_app.extensions["redis"].delete(KEY.format(test_id))


def message(test_id: str) -> TestMessage | None:
    """The test message a remembered id stands for; None if it expired or the digest is gone."""
    raw = current_app.extensions["redis"].get(KEY.format(test_id))
    if raw is None:
        return None
    payload = json.loads(raw)
    digest = db.session.get(Digest, int(payload["digest"]))
    if digest is None:
        return None
    return TestMessage(
        envelope_from=sender_address(current_app.config["MAIL_FROM"]),
        to=str(payload["to"]),
        data=build(digest, str(payload["to"]), payload.get("language")),
    )


def build(digest: Digest, to: str, language: str | None = None) -> bytes:
    """The digest as a sample reader of `language` at `to` would get it, marked as a test."""
    language = variants.known(language, digest.mailing_list.language)
    rendered = render_digest(digest, variant=variants.variant(digest, language))
    template = build_template(
        digest.mailing_list, SUBJECT.format(rendered.subject), rendered.text, rendered.html
    )
    domain = sender_domain(current_app.config["MAIL_FROM"])
    composer = Composer(
        digest.id, digest.list_id, template, configured_signer(), domain, language=language
    )
    # Delivery id 0: no delivery has it, so the mailto unsubscribe of a test does nothing.
    return composer.message(0, SampleReader(email=to))  # SMTP DATA already, unless signed
