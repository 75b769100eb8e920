"""Public archive: sent digests of public lists as web pages, without per-recipient data."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from mailer import i18n
from mailer.digests import variants
from mailer.digests.content import issue_date, render_digest
from mailer.extensions import db
from mailer.i18n import direction
from mailer.models import Article, Digest, DigestStatus, MailingList
from mailer.urls import external_url

bp = Blueprint("archive", __name__)

PER_PAGE = 20
# The issue sits in a sandboxed srcdoc frame, which inherits this policy: the mail's inline
# styles, the article images' own origins, and nothing that runs.
DIGEST_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:{images}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d+)?")


def _published() -> Select[Digest]:
    return (
        select(Digest)
        .join(MailingList, MailingList.id == Digest.list_id)
        .where(Digest.status == DigestStatus.sent, MailingList.is_public.is_(True))
    )


@bp.get("/archive")
def index() -> ResponseReturnValue:
    """Sent issues of the public lists, newest first; 404 past the last page."""
    query = _published().order_by(Digest.sent_at.desc(), Digest.id.desc())
    page = db.paginate(query, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=True)
    language = i18n.current()  # ?lang=, else the browser's
    return render_template(
        "archive/index.html",
        page=page,
        issue_date=issue_date,
        subjects=variants.subjects(page.items, language),
        # Each issue opens in the language of this page; the list's own at its plain URL.
        link_lang={
            d.id: language if language != d.mailing_list.language else None for d in page.items
        },
    )


@bp.get("/archive/<slug>")
def digest(slug: str) -> ResponseReturnValue:
    """One sent issue of a public list, as everyone may read it, in one of its languages.

    The list's language is at /archive/<slug>, each other one the issue has (a subject or
    a story in it) at ?lang=<code>, all linked to each other with hreflang. Any other known
    language shows the originals, marked, with the page in that language: it is what that
    language's readers got by mail, and where their "view in browser" link leads.
    """
    found = db.session.scalar(_published().where(Digest.slug == slug))
    if found is None:
        abort(404)
    default = found.mailing_list.language
    languages = variants.languages(found)
    language = request.args.get("lang") or default
    if language not in current_app.config["LANGUAGES"]:
        abort(404)
    if "lang" in request.args and language == default:
        return redirect(url_for("archive.digest", slug=slug), 301)
    variant = variants.variant(found, language)
    rendered = render_digest(found, archive=True, variant=variant)
    page = render_template(
        "archive/digest.html",
        digest=found,
        subject=rendered.subject,
        subject_language=variants.subjects([found], language)[found.id][1],
        html=rendered.html,
        date=issue_date(found),
        language=language,
        direction=direction(language),
        versions=[(code, _version_url(slug, code, default)) for code in languages],
    )
    csp = DIGEST_CSP.format(images=_image_origins(variant.articles))
    return page, 200, {"Content-Security-Policy": csp}


def _version_url(slug: str, language: str, default: str) -> str:
    extra = {"lang": language} if language != default else {}
    return external_url("archive.digest", slug=slug, **extra)


def _image_origins(articles: list[Article]) -> str:
    origins = set()
    for article in articles:
        parts = urlsplit(article.image_url or "")
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        if _ORIGIN.fullmatch(origin):
            origins.add(origin)
    return "".join(f" {o}" for o in sorted(origins))
