"""Admin: the bounce and complaint log, with rates per digest, and the suppression list."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from mailer.admin import bp
from mailer.bounces import reports, suppressions
from mailer.extensions import db
from mailer.models import BounceKind, SuppressionReason
from mailer.privacy import InvalidAddress


@bp.get("/bounces")
def bounces() -> ResponseReturnValue:
    kind_name = request.args.get("kind") or None
    if kind_name is not None and kind_name not in BounceKind.__members__:
        abort(404)
    kind = BounceKind(kind_name) if kind_name else None
    return render_template(
        "admin/bounces.html",
        digests=reports.per_digest(),
        counts=reports.kind_counts(),
        unattributed=sum(reports.kind_counts(attributed=False).values()),
        events=reports.recent_events(kind),
        kinds=list(BounceKind),
        kind=kind,
    )


@bp.get("/suppressions")
def suppression_list() -> ResponseReturnValue:
    reason_name = request.args.get("reason") or None
    if reason_name is not None and reason_name not in SuppressionReason.__members__:
        abort(404)
    reason = SuppressionReason(reason_name) if reason_name else None
    return render_template(
        "admin/suppressions.html",
        rows=suppressions.entries(reason, limit=500),
        counts=suppressions.counts(),
        reasons=list(SuppressionReason),
        reason=reason,
    )


@bp.post("/suppressions")
def add_suppression() -> ResponseReturnValue:
    try:
        added = suppressions.add(request.form.get("email", ""), SuppressionReason.manual)
    except InvalidAddress as exc:
        flash(_("Not a valid address: %(error)s", error=exc))
        return redirect(url_for("admin.suppression_list"), 303)
    db.session.commit()
    flash(_("Address suppressed.") if added else _("That address was already suppressed."))
    return redirect(url_for("admin.suppression_list"), 303)
