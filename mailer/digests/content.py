"""Digest content: render a digest once with per-recipient slot markers (the slots and their
values: mailer.digests.slots), and the list's headers.

Jinja and CSS inlining run once per digest (`render_digest`); each recipient costs only a
string replacement of the markers (`slots.fill_slots`, or `delivery.template.MessageTemplate`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit

import css_inline
from flask import current_app
from markupsafe import Markup

from mailer import i18n
from mailer.delivery.headers import check_header
from mailer.delivery.message import sender_address, sender_domain
from mailer.delivery.template import MessageTemplate
from mailer.digests.language_notes import in_language
from mailer.digests.slots import SLOT, SLOTS
from mailer.i18n import direction
from mailer.models import Article, Digest, MailingList, utcnow
from mailer.urls import external_url

_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
# A marker typed into an article would be filled (or fail the send): break it up, invisibly.
_WORD_JOINER = "\u2060"
_NEW_TAB = Markup(' target="_blank" rel="noopener noreferrer"')


@dataclass(frozen=True)
class RenderedDigest:
    """A digest rendered once: its subject, and HTML and text with slot markers."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Variant:
    """What readers of one language get: subject, intro and one version of each story."""

    language: str
    subject: str
    intro: str
    articles: list[Article]
    # The language of `subject` and `intro` where it is not `language`: the list's default,
    # where the editor wrote none in `language`.
    text_language: str | None = None


@dataclass(frozen=True)
class _Item:
    title: str
    link: str | None
    summary: str
    image_url: str | None
    image_alt: str
    image_credit: str | None
    author: str | None
    region: str | None
    # Set when the article is not in the reader's language: its own, and a note saying so.
    lang: str | None = None
    dir: str | None = None
    note: str = ""


def render_digest(
    digest: Digest,
    *,
    archive: bool = False,
    variant: Variant | None = None,
    language: str | None = None,
) -> RenderedDigest:
    """Render subject, HTML (CSS inlined) and text once; `archive` omits every per-reader part.

    `variant` is one language's version (mailer.digests.variants); without one, the digest's
    own texts with the chrome in `language` (default: the list's default language).
    """
    nonce = secrets.token_hex(8)
    placeholders = {} if archive else {slot: f"%%{nonce}:{slot}%%" for slot in SLOTS}
    if variant is None:
        lang = language or digest.mailing_list.language
        own = digest.mailing_list.language
        variant = Variant(
            lang, digest.subject, digest.intro, list(digest.articles), own if lang != own else None
        )
    env = current_app.jinja_env
    # The chrome (headings, buttons, footer) in the variant's language: once per language.
    with i18n.language(variant.language):
        context = _context(digest, archive, placeholders, variant)
        subject = env.get_template("email/digest.subject.txt").render(context)
        text = env.get_template("email/digest.txt").render(context)
        html = _inliner.inline(env.get_template("email/digest.html").render(context))
    return RenderedDigest(
        subject=" ".join(subject.split()),
        html=_place_markers(html, nonce, "%%mailer&#58;"),
        text=_place_markers(_tidy(text), nonce, f"%%mailer{_WORD_JOINER}:"),
    )


def list_id(mailing_list: MailingList) -> str:
    """RFC 2919 List-Id, '"Name" <slug.domain>', under the domain of MAIL_FROM."""
    domain = sender_domain(current_app.config["MAIL_FROM"])
    # formataddr keeps a line break in the name: refuse it here, where the header is made.
    return check_header("List-Id", formataddr((mailing_list.name, f"{mailing_list.slug}.{domain}")))


def list_sender(mailing_list: MailingList) -> str:
    """The From of the list's digests: MAIL_FROM's address, under the list's From name if set.

    The address stays MAIL_FROM's: SPF, DKIM and DMARC are set up for its domain.
    """
    sender = str(current_app.config["MAIL_FROM"])
    if not mailing_list.from_name:
        return sender
    pair = (mailing_list.from_name, sender_address(sender))
    return check_header("From", formataddr(pair, charset="utf-8"))


def reply_to(mailing_list: MailingList) -> dict[str, str]:
    """The Reply-To header of the list's digests, if the list has one."""
    if not mailing_list.reply_to:
        return {}
    return {"Reply-To": check_header("Reply-To", mailing_list.reply_to)}


def build_template(
    mailing_list: MailingList, subject: str, text: str, html: str
) -> MessageTemplate:
    """The one builder of a digest's message, filled per reader: the engine's and test sends'."""
    return MessageTemplate(
        subject=subject,
        sender=list_sender(mailing_list),
        text=text,
        html=html,
        headers={
            "List-Id": list_id(mailing_list),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Precedence": "bulk",
            **reply_to(mailing_list),
        },
        marker=SLOT,
    )


def list_headers(mailing_list: MailingList, unsubscribe_url: str) -> dict[str, str]:
    """List-Id (RFC 2919), one-click List-Unsubscribe (RFC 8058) and Reply-To of a digest."""
    return {
        "List-Id": list_id(mailing_list),
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        **reply_to(mailing_list),
    }


def issue_date(digest: Digest) -> datetime:
    """The date an issue carries: when it was sent, else started, scheduled or created."""
    return (
        digest.sent_at or digest.started_at or digest.scheduled_at or digest.created_at or utcnow()
    )


def _context(
    digest: Digest, archive: bool, slots: Mapping[str, str], variant: Variant | None
) -> dict[str, Any]:
    cfg = current_app.config
    mailing_list = digest.mailing_list
    if variant is None:
        variant = Variant(mailing_list.language, digest.subject, digest.intro, digest.articles)
    lang = variant.language
    in_other = {"lang": lang} if lang != mailing_list.language else {}
    return {
        "archive": archive,
        "slots": slots,
        "lang": lang,
        "dir": direction(lang),
        "subject": variant.subject,
        # lang and dir of the subject and intro where they are in another language than lang
        "text_attrs": i18n.text_attrs(variant.text_language) if variant.text_language else {},
        "mailing_list": mailing_list,
        "issue_date": i18n.format_day(issue_date(digest)),
        "intro": _paragraphs(variant.intro),
        "articles": [_item(a, lang) for a in variant.articles],
        # A private list's issues are not in the archive: no "view in browser" link to a 404.
        "archive_url": external_url("archive.digest", slug=digest.slug, **in_other)
        if mailing_list.is_public and not archive
        else None,
        "archive_index_url": external_url("archive.index"),
        "subscribe_url": external_url("subscriptions.subscribe_form"),
        "link_attrs": _NEW_TAB if archive else Markup(""),
        "network_name": cfg["NETWORK_NAME"],
        "contact_line": cfg["CONTACT_LINE"],
        **i18n.mail_globals(),
    }


def _item(article: Article, reader_language: str) -> _Item:
    other = article.language if article.language != reader_language else None
    return _Item(
        lang=other,
        dir=direction(other) if other else None,
        note=in_language(other, reader_language) if other else "",
        title=article.title.strip(),
        link=_web_url(article.link),
        summary=(article.summary or "").strip(),
        image_url=_web_url(article.image_url),
        image_alt=(article.image_alt or "").strip() or article.title.strip(),
        image_credit=article.image_credit,
        author=article.author,
        region=article.region,
    )


def _web_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: no javascript: or data: links in a mail."""
    url = (url or "").strip()
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def _paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs (split at blank lines) of lines."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [[line.strip() for line in b.strip().splitlines()] for b in blocks if b.strip()]


def _tidy(text: str) -> str:
    """Plain text without trailing spaces or runs of blank lines."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _place_markers(content: str, nonce: str, neutral: str) -> str:
    """Disarm markers that came with the content, then turn our placeholders into markers."""
    content = content.replace("%%mailer:", neutral)
    return re.sub(rf"%%{nonce}:(\w+)%%", r"%%mailer:\1%%", content)
