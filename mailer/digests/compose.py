"""Each recipient's message of a digest, from the one built per digest and worker process.

The digest's stored rendering (mailer.digests.content) becomes a MessageTemplate once per
worker process; each recipient's message is that template with their slots (links, name),
Message-ID, To and List-Unsubscribe filled in, DKIM-signed when DKIM_* is set. The engine
(mailer.digests.sending) and the test send (mailer.digests.testsend) both build with
`Composer`, so a test send is the message readers get.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from flask import current_app

from mailer import i18n
from mailer.delivery.dkim import DkimSigner
from mailer.delivery.dkim import configured_signer as dkim_signer
from mailer.delivery.message import sender_domain
from mailer.delivery.template import MessageTemplate
from mailer.digests import variants
from mailer.digests.content import build_template
from mailer.digests.slots import Greeting, Reader, greeting, recipient_slots
from mailer.models import Digest
from mailer.verp import unsubscribe_mailto

_templates: dict[tuple[int, str], MessageTemplate] = {}


def message_template(digest: Digest) -> MessageTemplate:
    """The digest's message in its list's language, built once per worker process (a digest
    started before renderings per language were stored)."""
    key = (digest.id, str(digest.started_at))
    template = _templates.get(key)
    if template is None:
        _templates.clear()  # one digest at a time is the common case; keep memory flat
        template = _templates[key] = build_template(
            digest.mailing_list,
            digest.rendered_subject or digest.subject,
            digest.rendered_text or "",
            digest.rendered_html or "",
        )
    return template


@dataclass
class Composer:
    """Each recipient's message, from the template of the reader's language (else the
    list's), signed when DKIM_* is set."""

    digest_id: int
    list_id: int
    template: MessageTemplate
    signer: DkimSigner | None
    domain: str
    by_language: dict[str, MessageTemplate] = field(default_factory=dict)  # else `template`
    language: str = ""  # of `template`; default: the language in force
    greetings: dict[str, Greeting] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The greeting's two forms, translated once per language, never per reader.
        self.language = self.language or i18n.current()
        for code in {self.language, *self.by_language}:
            self.greetings.setdefault(code, greeting(code))

    @classmethod
    def of(cls, digest: Digest, languages: set[str] | None = None) -> Composer:
        """For the readers' `languages` (mailer.digests.variants renders once per language)."""
        domain = sender_domain(current_app.config["MAIL_FROM"])
        default = digest.mailing_list.language
        by_language = variants.templates(digest, (languages or set()) | {default})
        # A digest started before renderings per language were stored has its own only.
        template = by_language.get(default) or message_template(digest)
        return cls(digest.id, digest.list_id, template, dkim_signer(), domain, by_language, default)

    def message(self, delivery_id: int, reader: Reader) -> bytes:
        language = getattr(reader, "language", "")
        template = self.by_language.get(language)
        if template is None:
            template, language = self.template, self.language
        slots = recipient_slots(reader, self.list_id, self.greetings[language])
        # Signed messages are signed as they are, then stuffed by the transport; the rest
        # come out of the template in the form SMTP DATA carries.
        render = template.render if self.signer is not None else template.render_data
        data = render(
            reader.email,
            f"<{self.digest_id}.{delivery_id}.{secrets.token_hex(6)}@{self.domain}>",
            slots,
            headers={
                "List-Unsubscribe": f"<{slots['unsubscribe_url']}>, "
                f"<{unsubscribe_mailto(delivery_id)}>"
            },
        )
        return self.signer.sign(data) if self.signer is not None else data
