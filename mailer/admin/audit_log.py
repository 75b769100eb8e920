"""Admin: the audit log page (owners), and the hook that records every successful POST."""

from __future__ import annotations

import logging
from datetime import date

from flask import Response, g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mailer import audit
from mailer.admin import bp
from mailer.audit.query import Filters, actions, editor_emails, page
from mailer.extensions import db
from mailer.models import Editor
from mailer.numbers import whole_number

logger = logging.getLogger(__name__)
PAGE_SIZE = 50
# Recorded by their own views (audit.login_attempt), or not a change of state.
NOT_HOOKED = {"admin.login", "admin.search_subscribers"}


def record_successful_post(response: Response) -> Response:
    """After an admin POST that worked: one event, unless the view recorded its own.

    The admin's changes answer with a redirect (post/redirect/get). A 200 answer to a POST
    is a confirmation step or a form shown again ("Delete this list?"): nothing changed.
    """
    endpoint = request.endpoint or ""
    if (
        request.method != "POST"
        or response.status_code >= 400
        or response.status_code == 200
        or endpoint in NOT_HOOKED
        or g.get("audit_recorded")
    ):
        return response
    args = dict(request.view_args or {})
    id_names = [name for name in args if name.endswith("_id")]
    objects = (id_names[0][: -len("_id")], args.pop(id_names[0])) if id_names else None
    try:
        audit.record(
            endpoint.removeprefix("admin."),
            editor_id=g.get("audit_editor_id"),
            objects=objects,
            detail={k: str(v) for k, v in args.items()},
        )
        db.session.commit()
    except SQLAlchemyError:
        # The action itself is committed; a lost record is logged loudly, not a 500.
        db.session.rollback()
        logger.exception("audit record for %s failed", endpoint)
    return response


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    editor = request.args.get("editor", "")
    filters = Filters(
        editor_id=whole_number(editor),
        action=request.args.get("action") or None,
        since=_day("since"),
        until=_day("until"),
    )
    number = whole_number(request.args.get("page"), 9) or 1
    events, pages = page(filters, number, PAGE_SIZE)
    current = min(max(1, number), pages)
    editors = db.session.scalars(select(Editor).order_by(Editor.email)).all()
    return render_template(
        "admin/audit.html",
        events=events,
        filters=filters,
        page=current,
        pages=pages,
        actions=actions(),
        editors=editors,
        emails=editor_emails(),
        args={k: v for k, v in request.args.items() if k != "page" and v},
    )
