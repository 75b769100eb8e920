"""The per-address cap on mail that strangers can trigger (audit M2: subscription bombing).

A sign-up, a "send me a new link" or an import asks for a mail to an address that the person
asking may not own. Each such mail takes a slot here first, in the database, keyed by the
keyed address hash (never the address); a request that finds no free slot changes nothing
and sends nothing, and the sweeper only ever re-sends requests that took a slot. So the cap
holds whichever path the mail takes, survives a Redis restart, and never fails open.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from flask import current_app
from limits import parse_many
from sqlalchemy import bindparam, delete, func, insert, select, update

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


def take_slot(digest: str, kind: str, subscriber_id: int | None = None) -> bool:
    """Record one mail to the address if every window has room; False (and nothing) if not.

    `subscriber_id`: the row to lock first, so that two requests for one address cannot both
    take the last slot (an UPDATE takes the row lock on PostgreSQL, the write lock on SQLite).
    None when this transaction has just inserted the subscriber: its uncommitted row already
    makes any other insert of the address wait, and others lock that row before they count.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    # Core statements on the session's connection (its transaction): a sign-up's hot path.
    conn = db.session.connection()
    if subscriber_id is not None:
        conn.execute(_LOCK, {"subscriber_id": subscriber_id})
    now = clock.now()
    limits = windows(kind)
    # One statement counts every window (they nest: the longest bounds the scan).
    counts = conn.execute(
        select(
            *(
                func.count(AddressMail.id).filter(AddressMail.created_at > now - window)
                for _limit, window in limits
            )
        ).where(
            AddressMail.address_hash == digest,
            AddressMail.kind == kind,
            AddressMail.created_at > now - max(window for _limit, window in limits),
        )
    ).one()
    if any((used or 0) >= limit for used, (limit, _window) in zip(counts, limits, strict=True)):
        return False
    conn.execute(insert(AddressMail), {"address_hash": digest, "kind": kind, "created_at": now})
    return True


def prune() -> int:
    """Delete slots older than every window (they can no longer hold anything back)."""
    longest = max(window for kind in _SETTINGS for _limit, window in windows(kind))
    result = db.session.execute(
        delete(AddressMail).where(AddressMail.created_at < clock.now() - longest)
    )
    return int(getattr(result, "rowcount", 0) or 0)
