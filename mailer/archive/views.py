"""Public archive: sent digests of public lists as web pages, without per-recipient data."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from mailer.digests.content import issue_date, render_digest
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList

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
    return render_template("archive/index.html", page=page, issue_date=issue_date)


@bp.get("/archive/<slug>")
def digest(slug: str) -> ResponseReturnValue:
    """One sent issue of a public list, as everyone may read it."""
    found = db.session.scalar(_published().where(Digest.slug == slug))
    if found is None:
        abort(404)
    rendered = render_digest(found, archive=True)
    page = render_template(
        "archive/digest.html",
        digest=found,
        subject=rendered.subject,
        html=rendered.html,
        date=issue_date(found),
    )
    return page, 200, {"Content-Security-Policy": DIGEST_CSP.format(images=_image_origins(found))}


def _image_origins(digest: Digest) -> str:
    origins = set()
    for article in digest.articles:
        parts = urlsplit(article.image_url or "")
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        if _ORIGIN.fullmatch(origin):
            origins.add(origin)
    return "".join(f" {o}" for o in sorted(origins))
