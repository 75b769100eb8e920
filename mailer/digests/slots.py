"""A digest's per-recipient slots: the markers a rendering leaves, their values for one
reader (links and the greeting in the reader's language), and filling them in.

The digest is rendered once per language (mailer.digests.content); each recipient then
costs only these few values and a string replacement.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import current_app
from flask_babel import gettext

from mailer import i18n
from mailer.models import MailingList
from mailer.subscriptions.links import Addressee, link_tokens
from mailer.urls import external_url

if TYPE_CHECKING:
    from mailer.digests.content import RenderedDigest

SLOT = re.compile(r"%%mailer:(\w+)%%")
# `greeting` is the language's "Hello Sam," or "Hello," (a Greeting, translated once per
# variant), so a language can say "Здравствуйте, Сэм!" and "Здравствуйте!".
SLOTS = ("unsubscribe_url", "preferences_url", "greeting")
_NAME_SPOT = "\ue000"  # a private-use character: where the name goes in the named form


def fill_slots(rendered: RenderedDigest, values: Mapping[str, str]) -> tuple[str, str]:
    """The HTML and text for one reader: markers replaced, HTML-escaped in the HTML part."""
    html = SLOT.sub(lambda m: html_lib.escape(values[m.group(1)], quote=True), rendered.html)
    text = SLOT.sub(lambda m: values[m.group(1)], rendered.text)
    return html, text


@dataclass(frozen=True)
class Greeting:
    """A digest's greeting in one language: "Hello Sam," with a name, "Hello," without."""

    before: str  # the named form, up to the name
    after: str
    plain: str

    def to(self, name: str) -> str:
        """The greeting of a reader with this `name` ("" for none); plain text, unescaped."""
        return f"{self.before}{name}{self.after}" if name else self.plain


def greeting(language: str) -> Greeting:
    """The greeting's two forms in `language`: translated once per variant, never per reader.

    In a right-to-left language the name is set apart (mailer.i18n.isolate) as elsewhere.
    """
    with i18n.language(language):
        # Translators: the greeting of a digest (and other mails) to a reader with a name.
        named = gettext("Hello %(name)s,", name=i18n.isolate(_NAME_SPOT))
        # Translators: the same greeting to a reader whose name we do not know.
        plain = gettext("Hello,")
    before, _spot, after = named.partition(_NAME_SPOT)
    return Greeting(before, after, plain)


class Reader(Addressee, Protocol):
    """What a digest's slots need of a subscriber (a Subscriber, or a row of its values)."""

    @property
    def name(self) -> str | None: ...


def recipient_slots(
    reader: Reader, mailing_list: MailingList | int, greets: Greeting | None = None
) -> dict[str, str]:
    """A subscriber's slot values: their unsubscribe (from this list) and preferences links,
    and `greets` (default: the greeting in the language in force) with their name."""
    list_id = mailing_list if isinstance(mailing_list, int) else mailing_list.id
    name = " ".join((reader.name or "").split())
    unsubscribe, preferences = link_tokens(reader, list_id)
    greets = greets or greeting(i18n.current())
    return {
        "unsubscribe_url": _token_url("subscriptions.unsubscribe", unsubscribe),
        "preferences_url": _token_url("subscriptions.preferences", preferences),
        "greeting": greets.to(name),
        # A digest rendered before the greeting slot (mid-send across an upgrade) has "name".
        "name": f" {name}" if name else "",
    }


_TOKEN_SPOT = "mailer-token-spot"


def _token_url(endpoint: str, token: str) -> str:
    """external_url(endpoint, token=token), with the URL around the token built once per app.

    The digest engine makes two links per message; werkzeug's build costs more than the rest
    of them together. Tokens are URL-safe base64 and dots, so they need no quoting.
    """
    cache: dict[tuple[str, str], tuple[str, str]] = current_app.extensions.setdefault(
        "mailer.token_urls", {}
    )
    key = (current_app.config["BASE_URL"], endpoint)
    if key not in cache:
        before, _, after = external_url(endpoint, token=_TOKEN_SPOT).partition(_TOKEN_SPOT)
        cache[key] = (before, after)
    before, after = cache[key]
    return f"{before}{token}{after}"


def sample_slots(language: str | None = None) -> dict[str, str]:
    """Slot values of a made-up reader of `language` (default: the language in force), for
    previews and test sends (the links do nothing)."""
    return {
        "unsubscribe_url": external_url("subscriptions.unsubscribe", token="sample"),
        "preferences_url": external_url("subscriptions.preferences", token="sample"),
        "greeting": greeting(language or i18n.current()).to("Sam"),
        "name": " Sam",
    }
