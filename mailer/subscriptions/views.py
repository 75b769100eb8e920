"""Public pages: sign-up, confirmation, unsubscribe, preferences. No login."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from redis import RedisError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mailer import challenge, i18n
from mailer.extensions import csrf, db, limiter
from mailer.models import MailingList, Subscriber
from mailer.subscriptions import confirmation, floor, guard, links, list_cache, service
from mailer.subscriptions.forms import ActionForm, SignupForm
from mailer.tasks import enqueue_after_commit, send_already_subscribed, send_confirmation
from mailer.tokens import ExpiredToken, InvalidToken

logger = logging.getLogger(__name__)
bp = Blueprint("subscriptions", __name__)


def _ip_limit() -> str:
    return str(current_app.config["RATELIMIT_SIGNUP_IP"])


def token_limit() -> str:
    """The per-IP limit of pages opened from a link in mail (RATELIMIT_TOKEN_PAGES)."""
    return str(current_app.config["RATELIMIT_TOKEN_PAGES"])


def _embed() -> bool:
    return request.args.get("embed") == "1"


def _signup_form() -> tuple[SignupForm, Sequence[MailingList]]:
    """The sign-up form and the public lists it offers."""
    form = SignupForm()
    lists = list_cache.offered_lists()
    form.lists.choices = [(lst.slug, lst.name) for lst in lists]
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    i18n.use_fallback_language(lists[0].language if lists else None)
    if not form.is_submitted():
        form.lists.data = [lists[0].slug] if lists else []
        form.language.data = i18n.current()
    return form, lists


def _render_signup(
    form: SignupForm, status: int = 200, error: str | None = None
) -> ResponseReturnValue:
    data = challenge.new_challenge() if current_app.config["SIGNUP_CHALLENGE"] else None
    html = render_template(
        "subscriptions/subscribe.html",
        form=form,
        embed=_embed(),
        challenge=data,
        error=error,
        list_languages={lst.slug: lst.language for lst in list_cache.offered_lists()},
    )
    return html, status


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form() -> ResponseReturnValue:
    return _render_signup(_signup_form()[0])


@bp.post("/subscribe")
@limiter.exempt  # RATELIMIT_SIGNUP_IP is counted by guard.check, with the challenge
def subscribe() -> ResponseReturnValue:
    started = time.monotonic()
    # One Redis round trip: the per-IP limit, and the proof of work used up (if genuine).
    verdict = guard.check(request.form.get("altcha"))
    if verdict.limited:
        abort(429)
    form, public_lists = _signup_form()
    if form.website.data:  # honeypot: answer like a success, do nothing
        return _check_inbox_after(started, worked=False)
    if not form.validate():
        return _render_signup(form, 422)
    if not verdict.challenge_ok:
        return _render_signup(form, 422, _("The anti-spam check did not finish. Please try again."))
    try:
        lists = service.choose_lists(form.lists.data or [], public_lists)
    except service.UnknownList as exc:
        form.lists.errors = [_("There is no public list called “%(slug)s”.", slug=exc.slug)]
        return _render_signup(form, 422)
    try:
        signup = service.subscribe(
            form.email.data or "",
            lists=lists,
            name=(form.name.data or "").strip() or None,
            language=form.language.data or "en",
            source="embed" if _embed() else "form",
            ip=request.remote_addr,
            shown_in=i18n.current(),  # the language of the consent sentence the visitor ticked
        )
        db.session.commit()
    except IntegrityError:
        # A list another process deleted since this one read them (list_cache keeps them a
        # few seconds): nothing was written; the form again, with the lists as they are now.
        db.session.rollback()
        list_cache.forget()
        chosen = form.lists.data or []
        form, public_lists = _signup_form()
        offered = {lst.slug for lst in public_lists}
        gone = next((slug for slug in chosen if slug not in offered), None)
        if gone is None:
            raise  # not a vanished list: a real error
        form.lists.errors = [_("There is no public list called “%(slug)s”.", slug=gone)]
        return _render_signup(form, 422)
    _enqueue(signup.outcome, signup.subscriber_id)
    return _check_inbox_after(started)


def _check_inbox_after(started: float, worked: bool = True) -> ResponseReturnValue:
    """Redirect to "check your inbox", never sooner than the floor after `started`.

    A new address costs a few inserts, a suppressed one a single lookup; the floor hides
    that difference, so response times do not tell who subscribes (see floor.py).
    """
    floor.wait_out(started, record=worked)
    embed, lang = request.args.get("embed"), request.args.get("lang")
    return redirect(url_for(".check_inbox", embed=embed, lang=lang), 303)


def _enqueue(outcome: service.SignupOutcome, subscriber_id: int | None) -> None:
    """Hand the mail to a worker. The per-address cap already decided (outcome `nothing`)."""
    if subscriber_id is None or outcome is service.SignupOutcome.nothing:
        return
    task = (
        send_confirmation
        if outcome is service.SignupOutcome.confirmation
        else send_already_subscribed
    )
    if not enqueue_after_commit(task, subscriber_id):
        logger.warning("subscriber %s left to the sweeper", subscriber_id)
        if outcome is service.SignupOutcome.confirmation:
            service.mark_not_queued(subscriber_id)
            db.session.commit()


@bp.get("/check-inbox")
def check_inbox() -> ResponseReturnValue:
    return render_template("subscriptions/check_inbox.html", embed=_embed())


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(token_limit)
def confirm(token: str) -> ResponseReturnValue:
    form = ActionForm()
    if request.method != "POST":  # mail scanners follow links: a GET (or HEAD) never confirms
        pending = confirmation.check_confirm_token(token)
        i18n.use_reader_language(pending.pending_language or pending.language)
        return render_template("subscriptions/confirm.html", form=form, token=token)
    if not form.validate():
        abort(400)
    chosen = i18n.supported(request.args.get("lang"))
    subscriber = confirmation.confirm(token, ip=request.remote_addr, shown_in=chosen)
    db.session.commit()
    i18n.use_reader_language(subscriber.language)
    return render_template(
        "subscriptions/confirmed.html",
        preferences_token=links.preferences_token(subscriber),
    )


@bp.post("/confirm/<token>/resend")
@limiter.limit(_ip_limit)
def resend_confirmation(token: str) -> ResponseReturnValue:
    if not ActionForm().validate():
        abort(400)
    subscriber = confirmation.subscriber_for_new_link(token)
    i18n.use_reader_language(subscriber.pending_language or subscriber.language)
    outcome = confirmation.request_new_confirmation(subscriber)
    db.session.commit()
    _enqueue(outcome, subscriber.id)
    return redirect(url_for(".check_inbox", lang=i18n.current()), 303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: no cookie, no CSRF token; the signed token is the credential
def unsubscribe(token: str) -> ResponseReturnValue:
    # An unsubscribe link is no key to the preferences (audit M4): mailbox providers see it
    # in List-Unsubscribe, and a forwarded digest carries it. Its pages link to none.
    if request.method != "POST":  # GET or HEAD (link scanners, previews) only shows the page
        reader = links.subscriber_from_token("unsubscribe", token)
        i18n.use_reader_language(reader.language)
        return render_template("subscriptions/unsubscribe.html", token=token)
    subscriber = service.unsubscribe(token)
    db.session.commit()
    i18n.use_reader_language(subscriber.language)
    logger.info("subscriber %s unsubscribed", subscriber.id)
    if request.form.get("List-Unsubscribe") == "One-Click":
        return Response("Unsubscribed.\n", 200, mimetype="text/plain")
    return render_template("subscriptions/unsubscribed.html")


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The site's icon, for browsers and feed readers that ask here rather than read the
    pages' <link rel="icon">: no 404 on every page."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    checks = {"database": _check_db(), "redis": _check_redis()}
    ok = all(checks.values())
    return jsonify(status="ok" if ok else "degraded", checks=checks), 200 if ok else 503


def _check_db() -> bool:
    try:
        db.session.execute(db.select(1))
        return True
    except SQLAlchemyError:
        logger.exception("health check: database")
        return False


def _check_redis() -> bool:
    try:
        return bool(current_app.extensions["redis"].ping())
    except (RedisError, OSError):
        return False


def _in_language_of(subscriber: Subscriber | None) -> None:
    """Show a refused link's page in the language of the reader it was mailed to, as their
    working links' pages are (README, "Languages"); a link that names no one keeps the
    browser's. A confirmation link's pages are in the language chosen on the form."""
    if subscriber is None:
        return
    confirming = request.endpoint in ("subscriptions.confirm", "subscriptions.resend_confirmation")
    pending = subscriber.pending_language if confirming else None
    i18n.use_reader_language(pending or subscriber.language)


@bp.errorhandler(InvalidToken)
def invalid_token(exc: InvalidToken) -> ResponseReturnValue:
    _in_language_of(links.reader_of(exc))
    one_time = request.endpoint in ("subscriptions.data_link", "subscriptions.erase_link")
    if one_time and isinstance(exc, (ExpiredToken, links.SpentLink)):
        return render_template("subscriptions/one_time_invalid.html"), 410
    if isinstance(exc, ExpiredToken) and request.endpoint == "subscriptions.confirm":
        return render_template(
            "subscriptions/confirm_stale.html",
            token=(request.view_args or {}).get("token"),
            expired=True,
            form=ActionForm(),
        ), 410
    return render_template("subscriptions/invalid_link.html"), 404


@bp.errorhandler(service.TokenUsed)
def token_used(exc: service.TokenUsed) -> ResponseReturnValue:
    _in_language_of(exc.subscriber)
    return render_template(
        "subscriptions/confirm_stale.html",
        token=(request.view_args or {}).get("token"),
        expired=False,
        form=ActionForm(),
    ), 409


# The preferences pages and the one-time links register their routes on `bp`.
from mailer.subscriptions import preference_views  # noqa: E402, F401
