"""Admin: digests — compose, reorder, preview as a subscriber sees it, send a test."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from mailer import clock
from mailer.admin import bp, digest_texts, test_send_limit
from mailer.admin.forms import DigestForm, TestSendForm
from mailer.bounces import reports
from mailer.controls import has_control_characters
from mailer.digests import control, lifecycle, outbox, service, variants, weekly
from mailer.digests.schedule import NoSuchLocalTime, local_to_utc
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, MailingList, utcnow
from mailer.numbers import whole_number


def _digest(digest_id: int) -> Digest:
    digest = db.session.get(Digest, digest_id)
    if digest is None:
        abort(404)
    return digest


@bp.get("/digests")
def digests() -> ResponseReturnValue:
    rows = db.session.scalars(select(Digest).order_by(Digest.id.desc()).limit(200)).all()
    lists = db.session.scalars(select(MailingList).order_by(MailingList.id)).all()
    return render_template("admin/digests.html", digests=rows, lists=lists)


@bp.post("/digests/new")
def new_digest() -> ResponseReturnValue:
    slug = request.form.get("list", "")
    if has_control_characters(slug):  # no list's slug has one (and PostgreSQL refuses a NUL)
        abort(404)
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if mailing_list is None:
        abort(404)
    digest = lifecycle.create(mailing_list)
    if not digest.items:
        flash(_("No new articles since this list's last digest: add some below."))
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


def _new_order(digest: Digest) -> list[int]:
    """The article order the editor asked for: save, move up/down, remove or add."""
    given = (whole_number(v) for v in request.form.getlist("article_ids"))
    order = [n for n in given if n is not None]
    action, _, target = request.form.get("action", "save").partition(":")
    picked = whole_number(target)
    if picked is not None and picked in order:
        i = order.index(picked)
        if action == "up" and i > 0:
            order[i - 1], order[i] = order[i], order[i - 1]
        elif action == "down" and i < len(order) - 1:
            order[i + 1], order[i] = order[i], order[i + 1]
        elif action == "remove":
            order.pop(i)
    add = whole_number(request.form.get("add_article"))
    if action == "add" and add is not None and add not in order:
        order.append(add)
    return order


@bp.route("/digests/<int:digest_id>", methods=["GET", "POST"])
def edit_digest(digest_id: int) -> ResponseReturnValue:
    digest = _digest(digest_id)
    form = DigestForm(obj=digest)
    if request.method == "POST":
        if not digest.editable:
            raise service.DigestLocked(digest)
        texts, text_errors = digest_texts.read(request.form, digest)
        if form.validate() and not text_errors:
            variants.save_texts(digest, texts)
            service.update_digest(
                digest,
                subject=form.subject.data or "",
                intro=form.intro.data or "",
                article_ids=_new_order(digest),
            )
            db.session.commit()
            flash(_("Digest saved."))
            return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)
    else:
        text_errors = {}
    in_digest = {a.id for a in digest.articles}
    addable = [a for a in service.recent_articles() if a.id not in in_digest]
    return render_template(
        "admin/digest_edit.html",
        digest=digest,
        form=form,
        addable=addable,
        test_form=_test_form(digest),
        texts=variants.texts(digest),
        text_errors=text_errors,
        other_languages=digest_texts.other_languages(digest),
        languages=variants.languages(digest),
        progress=control.progress(digest.id),
        bounces=reports.for_digest(digest.id),
        recipients=outbox.recipient_count(digest.list_id) if digest.editable else 0,
        **_times(digest),
    ), 422 if form.errors or text_errors else 200


def _test_form(digest: Digest) -> TestSendForm:
    form = TestSendForm()
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    if not form.language.data or form.language.data == "None":
        form.language.data = digest.mailing_list.language
    return form


def _times(digest: Digest) -> dict[str, Any]:
    """The digest's times on its list's clock, as the page shows them."""
    tz = digest.mailing_list.schedule_timezone
    at = digest.scheduled_at
    return {
        "zone": weekly.zone_label(tz, at or clock.now()),
        "scheduled_local": weekly.local_label(at, tz) if at else None,
        "send_at_value": f"{at.astimezone(ZoneInfo(tz)):%Y-%m-%dT%H:%M}" if at else "",
        "slot_local": weekly.local_label(digest.schedule_slot, tz)
        if digest.schedule_slot
        else None,
    }


@bp.post("/digests/<int:digest_id>/test")
def test_digest(digest_id: int) -> ResponseReturnValue:
    digest = _digest(digest_id)
    form = _test_form(digest)
    if not form.validate():
        flash(_("Enter a valid address for the test."))
        return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)
    language = digest_texts.language(digest, form.language.data)
    address = (form.address.data or "").strip()
    if not test_send_limit.take(current_user.id, digest.id, language, address):
        db.session.rollback()
        message = _(
            "You have sent as many tests as allowed (%(limit)s per editor). Wait a while,"
            " then send the test again. Nothing was sent.",
            limit=current_app.config["RATELIMIT_TEST_SEND"],
        )
        return render_template("error.html", code=429, message=message), 429
    if lifecycle.send_test(digest.id, address, language):
        flash(_("Test sent: it is the message readers get, built and signed the same way."))
    else:
        flash(_("The queue is unavailable: the test was not sent. Try again in a minute."))
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


@bp.post("/digests/<int:digest_id>/send")
def send_digest(digest_id: int) -> ResponseReturnValue:
    digest = _digest(digest_id)
    try:
        lifecycle.start(digest.id)
    except service.NoArticles as exc:
        flash(str(exc))
    else:
        flash(_("Sending is starting: progress shows below."))
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


@bp.post("/digests/<int:digest_id>/schedule")
def schedule_digest(digest_id: int) -> ResponseReturnValue:
    """Schedule at a date and time read on the list's clock (its time zone), stored in UTC."""
    digest = _digest(digest_id)
    if not digest.editable:
        raise service.DigestLocked(digest)
    tz = digest.mailing_list.schedule_timezone
    try:
        local = datetime.fromisoformat(request.form.get("send_at", "").strip())
        if local.tzinfo is not None:
            raise ValueError("a local time has no offset")
        when = local_to_utc(local, tz)
    except NoSuchLocalTime as exc:
        flash(str(exc))
        return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)
    except ValueError:
        flash(_("Give the date and time to send at (%(zone)s time).", zone=tz))
        return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)
    try:
        lifecycle.schedule(digest.id, when)
    except lifecycle.PastTime as exc:
        flash(str(exc))
    else:
        flash(
            _(
                "Scheduled for %(local)s, %(utc)s UTC.",
                local=weekly.local_label(when, tz),
                utc=f"{when:%Y-%m-%d %H:%M}",
            )
        )
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


@bp.post("/digests/<int:digest_id>/approve")
def approve_digest(digest_id: int) -> ResponseReturnValue:
    """An editor approves the week's digest: it goes out at its slot, or now if that passed."""
    digest = _digest(digest_id)
    try:
        later = lifecycle.approve(digest.id)
    except service.NoArticles as exc:
        flash(str(exc))
    else:
        tz = digest.mailing_list.schedule_timezone
        slot = digest.schedule_slot
        flash(
            _("Approved: it goes out at %(time)s.", time=weekly.local_label(slot, tz))
            if later and slot
            else _("Approved: its time has passed, so sending is starting now.")
        )
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


CONTROLS = {
    "pause": (lifecycle.pause, _l("Paused.")),
    "resume": (lifecycle.resume, _l("Resumed.")),
    "cancel": (lifecycle.cancel, _l("Cancelled.")),
    "unschedule": (lifecycle.unschedule, _l("Unscheduled: the digest is a draft again.")),
    "hold": (lifecycle.hold, _l("Held: it does not go out until an editor approves it.")),
}


@bp.post("/digests/<int:digest_id>/<any(pause, resume, cancel, unschedule, hold):action>")
def control_digest(digest_id: int, action: str) -> ResponseReturnValue:
    digest = _digest(digest_id)
    change, done = CONTROLS[action]
    change(digest.id)
    flash(str(done))
    return redirect(url_for("admin.edit_digest", digest_id=digest.id), 303)


@bp.get("/digests/<int:digest_id>/progress.json")
def digest_progress(digest_id: int) -> ResponseReturnValue:
    digest = _digest(digest_id)
    p = control.progress(digest.id)
    bounces = reports.for_digest(digest.id)
    return jsonify(
        bounced=bounces.hard + bounces.soft if bounces else 0,
        complaints=bounces.complaints if bounces else 0,
        status=digest.shown_status,
        pause_reason=digest.pause_reason if digest.status == DigestStatus.paused else None,
        total=p.total,
        sent=p.sent,
        failed=p.failed,
        skipped=p.skipped,
        remaining=p.remaining,
        started_at=digest.started_at.isoformat() if digest.started_at else None,
        now=utcnow().isoformat(),
    )


@bp.errorhandler(digest_texts.UnknownLanguage)
def unknown_language(exc: Exception) -> ResponseReturnValue:
    return render_template("error.html", code=400, message=str(exc)), 400


@bp.errorhandler(service.DigestLocked)
@bp.errorhandler(lifecycle.NotSendable)
def digest_locked(exc: Exception) -> ResponseReturnValue:
    return render_template("error.html", code=409, message=str(exc)), 409
