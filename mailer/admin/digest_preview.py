"""Admin: a digest's preview, exactly as its readers of a language get it (a sample reader's
links), the HTML in a sandboxed frame of its own."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from mailer.admin import bp, digest_texts
from mailer.digests import variants
from mailer.digests.content import RenderedDigest, render_digest
from mailer.digests.slots import fill_slots, sample_slots
from mailer.extensions import db
from mailer.models import Digest

PREVIEW_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def _rendered(digest: Digest) -> tuple[str, RenderedDigest]:
    """The digest in the preview's language (?lang=), as its readers of that language get it."""
    language = digest_texts.language(digest, request.args.get("lang"))
    return language, render_digest(digest, variant=variants.variant(digest, language))


@bp.get("/digests/<int:digest_id>/preview")
def preview_digest(digest_id: int) -> ResponseReturnValue:
    digest = db.get_or_404(Digest, digest_id)
    language, rendered = _rendered(digest)
    _html, text = fill_slots(rendered, sample_slots(language))
    return render_template(
        "admin/digest_preview.html",
        digest=digest,
        subject=rendered.subject,
        text=text,
        language=language,
        languages=variants.languages(digest),
    )


@bp.get("/digests/<int:digest_id>/preview.html")
def preview_digest_html(digest_id: int) -> ResponseReturnValue:
    language, rendered = _rendered(db.get_or_404(Digest, digest_id))
    html, _text = fill_slots(rendered, sample_slots(language))
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN"}
