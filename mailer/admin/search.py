"""The admin's subscriber search, for the list and the export: the text never goes in a URL.

What an editor types is often a reader's address, and URLs land in browser history, proxy
and server logs (README: never an address in a URL). So the search form posts (CSRF) and
the text waits in Redis under a random id, bound to the editor who typed it, for as long as
an idle admin session lasts (renewed on each use); the page, the pager and the export carry
only that id; logging out deletes the editor's searches. The list and status filters stay
in the URL: they name no reader. The old GET form's ?q= is never read: it is dropped, with a
word, before anything else sees it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from redis import RedisError
from sqlalchemy import Select, func, or_, select

from mailer.accounts import policy, sessions
from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus

KEY = "mailer:admin-search:{}"
# The ids of one editor's searches, so that logging out can delete them.
EDITOR_KEY = "mailer:admin-searches-of:{}"
MAX_TEXT = 200
# The pages whose old GET form carried the text as ?q=.
SEARCH_ENDPOINTS = frozenset({"admin.subscribers", "admin.export_subscribers"})


class SearchGone(LookupError):
    """The search id names no live search of this editor, or Redis did not answer."""

    def __init__(self, unavailable: bool = False) -> None:
        super().__init__("search unavailable" if unavailable else "search expired")
        self.unavailable = unavailable


@dataclass(frozen=True)
class Search:
    """One search: the text (from Redis), its id, and the list and status filters."""

    text: str = ""
    id: str | None = None
    mailing_list: MailingList | None = None
    status: str | None = None

    @property
    def slug(self) -> str | None:
        return self.mailing_list.slug if self.mailing_list else None

    def url_args(self) -> dict[str, Any]:
        """What a link to this search carries: never the text."""
        return {"search": self.id, "list": self.slug, "status": self.status}


def filtered(q: str, mailing_list: MailingList | None, status: str | None) -> Select[int]:
    """Ids of the subscribers matching the search and the list/status filter."""
    query = select(Subscriber.id)
    if q:
        # The editor's text is matched literally: % and _ are not wildcards here.
        literal = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{literal}%"
        query = query.where(
            or_(
                func.lower(Subscriber.email).like(like, escape="\\"),
                func.lower(Subscriber.name).like(like, escape="\\"),
            )
        )
    if mailing_list is not None or status is not None:
        match = select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)
        if mailing_list is not None:
            match = match.where(Subscription.list_id == mailing_list.id)
        if status is not None:
            match = match.where(Subscription.status == SubscriptionStatus(status))
        query = query.where(match.exists())
    return query


def filters(values: Mapping[str, str]) -> tuple[MailingList | None, str | None]:
    """The list (by slug) and status a query string or form names; 404 for an unknown one."""
    slug = values.get("list") or None
    status = values.get("status") or None
    if status is not None and status not in SubscriptionStatus.__members__:
        abort(404)
    mailing_list = None
    if slug is not None:
        mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        if mailing_list is None:
            abort(404)
    return mailing_list, status


def remember(text: str) -> str:
    """Keep the editor's search text; the random id that stands for it. Raises RedisError."""
    search_id = secrets.token_urlsafe(16)
    payload = json.dumps({"editor": current_user.id, "q": text})
    index, idle = EDITOR_KEY.format(current_user.id), policy.idle_timeout()
    with current_app.extensions["redis"].pipeline() as pipe:
        pipe.set(KEY.format(search_id), payload, ex=idle).sadd(index, search_id)
        pipe.expire(index, idle).execute()
    return search_id


@sessions.every_session_ended.connect
def _forget_at_session_end(sender: object, editor_id: int, **extra: Any) -> None:
    """Logging out (here or everywhere), a browser forgotten, an editor disabled, a
    password or second factor reset: every session of the editor ended."""
    forget_all(editor_id)


def forget_all(editor_id: int) -> None:
    """Delete every search the editor typed. Best effort: if Redis does not answer, the
    texts still expire after an idle session's time."""
    index = EDITOR_KEY.format(editor_id)
    try:
        store = current_app.extensions["redis"]
        with store.pipeline() as pipe:  # one transaction: no search slips in between
            ids = pipe.smembers(index).delete(index).execute()[0]
        with store.pipeline() as pipe:
            for search_id in ids:
                pipe.delete(
                    KEY.format(search_id.decode() if isinstance(search_id, bytes) else search_id)
                )
            pipe.delete(index).execute()
    except (RedisError, OSError):
        current_app.logger.warning(
            "editor %s's searches not deleted: Redis did not answer", editor_id
        )


def _recall(search_id: str) -> str:
    """The text the id stands for, its life renewed; SearchGone if none is this editor's."""
    if len(search_id) > 64:
        raise SearchGone()
    key, index = KEY.format(search_id), EDITOR_KEY.format(current_user.id)
    try:
        store = current_app.extensions["redis"]
        raw = store.get(key)
        payload = json.loads(raw) if raw is not None else {}
        if payload.get("editor") != current_user.id or not isinstance(payload.get("q"), str):
            raise SearchGone()  # renewed only by the editor who typed it
        with store.pipeline() as pipe:
            pipe.expire(key, policy.idle_timeout()).expire(index, policy.idle_timeout()).execute()
    except (RedisError, OSError):
        raise SearchGone(unavailable=True) from None
    return str(payload["q"])


def current() -> Search:
    """The search of this page's query string (search id, list, status). 404 for an
    unknown list or status; SearchGone for an id that names no live search."""
    mailing_list, status = filters(request.args)
    search_id = request.args.get("search") or None
    text = _recall(search_id) if search_id else ""
    return Search(text=text, id=search_id, mailing_list=mailing_list, status=status)


def start_again(gone: SearchGone) -> ResponseReturnValue:
    """The subscribers page without the search that is gone, saying why."""
    if gone.unavailable:
        flash(_("Searching is unavailable for a moment: the server's store did not answer."))
    else:
        flash(_("That search has expired. Search again."))
    return _to_filters_only()


def drop_text_in_url() -> ResponseReturnValue | None:
    """Before every /admin request, login first: the old GET form's ?q= is neither read
    nor carried on (not even into the login page's ?next=)."""
    if request.endpoint not in SEARCH_ENDPOINTS or not request.args.get("q", "").strip():
        return None
    flash(_("Searches no longer go in the page's address: type your search in the search box."))
    return _to_filters_only()


def _to_filters_only() -> ResponseReturnValue:
    kept: dict[str, Any] = {name: request.args.get(name) or None for name in ("list", "status")}
    return redirect(url_for("admin.subscribers", **kept), 303)
