"""Admin: "Send now" asks once more before a digest goes to every subscriber of its list.

The digest's page links here (GET); the button on this page posts to admin.send_digest.
Nothing is sent by a GET, and a digest that can no longer be sent goes back to its page.
"""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from mailer.admin import bp
from mailer.digests import outbox, variants
from mailer.extensions import db
from mailer.models import Digest


@bp.get("/digests/<int:digest_id>/send")
def confirm_send_digest(digest_id: int) -> ResponseReturnValue:
    digest = db.get_or_404(Digest, digest_id)
    if not digest.editable:
        return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)
    return render_template(
        "admin/digest_send.html",
        digest=digest,
        recipients=outbox.recipient_count(digest.list_id),
        languages=variants.languages(digest),
        articles=len(digest.articles),
    )
