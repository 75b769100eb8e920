"""The per-address cap on mail that strangers can trigger (audit M2: subscription bombing).

A sign-up, a "send me a new link" or an import asks for a mail to an address that the person
asking may not own. Each such mail takes a slot here first, in the database, keyed by the
keyed address hash (never the address); a request that finds no free slot changes nothing
and sends nothing, and the sweeper only ever re-sends requests that took a slot. So the cap
holds whichever path the mail takes, survives a Redis restart, and never fails open.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from limits import parse_many
from sqlalchemy import Executable, bindparam, delete, func, insert, select, update

from mailer import clock
from mailer.extensions import db
from mailer.models import AddressMail, Subscriber

SIGNUP = "signup"  # confirmation and "already subscribed" mails: RATELIMIT_SIGNUP_ADDRESS
LINK = "link"  # one-time and new preferences links: RATELIMIT_LINK_ADDRESS
_SETTINGS = {SIGNUP: "RATELIMIT_SIGNUP_ADDRESS", LINK: "RATELIMIT_LINK_ADDRESS"}


# Taking a slot locks the subscriber's row first (an UPDATE that changes nothing).
_LOCK = (
    update(Subscriber)
    .where(Subscriber.id == bindparam("subscriber_id"))
    .values(address_hash=Subscriber.address_hash)
)


def windows(kind: str) -> list[tuple[int, timedelta]]:
    """(at most n mails, per window) for `kind` from its setting, e.g. "1 per day;3 per 30 days"."""
    return _parse(str(current_app.config[_SETTINGS[kind]]))


@functools.lru_cache(maxsize=16)
def _parse(setting: str) -> list[tuple[int, timedelta]]:
    return [(item.amount, timedelta(seconds=item.get_expiry())) for item in parse_many(setting)]


def used_columns(count: int) -> list[Any]:
    """Columns that count the address's slots in each of `count` windows, for a lookup that
    reads other things in the same statement (the sign-up's); bind `used_params`."""
    return [
        select(func.count(AddressMail.id))
        .where(
            AddressMail.address_hash == bindparam("cap_digest"),
            AddressMail.kind == bindparam("cap_kind"),
            AddressMail.created_at > bindparam(f"cap_since_{i}"),
        )
        .scalar_subquery()
        .label(f"cap_used_{i}")
        for i in range(count)
    ]


def used_params(digest: str, kind: str, now: datetime) -> dict[str, Any]:
    """The parameters of `used_columns` and of the slot count: the address, kind and windows."""
    params: dict[str, Any] = {"cap_digest": digest, "cap_kind": kind}
    for i, (_limit, window) in enumerate(windows(kind)):
        params[f"cap_since_{i}"] = now - window
    return params


def has_room(used: Sequence[int | None], kind: str) -> bool:
    """Whether slots counted per window (in `windows(kind)` order) leave room for one more."""
    return all((n or 0) < limit for n, (limit, _w) in zip(used, windows(kind), strict=True))


@functools.lru_cache(maxsize=8)
def _count(count: int) -> Executable:
    """One statement counts every window (they nest: the longest bounds the scan)."""
    return select(
        *(
            func.count(AddressMail.id).filter(AddressMail.created_at > bindparam(f"cap_since_{i}"))
            for i in range(count)
        )
    ).where(
        AddressMail.address_hash == bindparam("cap_digest"),
        AddressMail.kind == bindparam("cap_kind"),
        AddressMail.created_at > bindparam("cap_oldest"),
    )


def take_slot(digest: str, kind: str, subscriber_id: int | None = None) -> bool:
    """Record one mail to the address if every window has room; False (and nothing) if not.

    `subscriber_id`: the row to lock first, so that two requests for one address cannot both
    take the last slot (an UPDATE takes the row lock on PostgreSQL, the write lock on SQLite).
    None when this transaction has just inserted the subscriber: its uncommitted row already
    makes any other insert of the address wait, and others lock that row before they count.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    # Core statements built once, on the session's connection (its transaction): a sign-up's
    # hot path.
    conn = db.session.connection()
    if subscriber_id is not None:
        conn.execute(_LOCK, {"subscriber_id": subscriber_id})
    now = clock.now()
    params = used_params(digest, kind, now)
    limits = windows(kind)
    params["cap_oldest"] = now - max(window for _limit, window in limits)
    if not has_room(conn.execute(_count(len(limits)), params).one(), kind):
        return False
    conn.execute(_INSERT, {"address_hash": digest, "kind": kind, "created_at": now})
    return True


_INSERT = insert(AddressMail).values(
    address_hash=bindparam("address_hash"),
    kind=bindparam("kind"),
    created_at=bindparam("created_at"),
)


def prune() -> int:
    """Delete slots older than every window (they can no longer hold anything back)."""
    longest = max(window for kind in _SETTINGS for _limit, window in windows(kind))
    result = db.session.execute(
        delete(AddressMail).where(AddressMail.created_at < clock.now() - longest)
    )
    return int(getattr(result, "rowcount", 0) or 0)
