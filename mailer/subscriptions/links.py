"""Link tokens in mail: confirm, unsubscribe, preferences, and the one-time links (audit M4).

Every token names the subscriber by `uid` plus 64 bits of the keyed address hash, so that
changing the address revokes old links. Every token but unsubscribe's also carries the
subscriber's `token_version` ("v"); "sign out all my links" bumps it and so revokes them all.
Tokens mailed before versions existed carry no "v" and read as version 0, the version every
subscriber starts with: they keep working until their subscriber revokes them.

Unsubscribe tokens carry no version, on purpose: a reader must always be able to leave from
any mail we ever sent (the product contract: unsubscribe tokens never expire), and leaving
grants nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from mailer.extensions import db
from mailer.models import Subscriber
from mailer.privacy import address_hash
from mailer.tokens import ExpiredToken, InvalidToken, make_token, read_token

UNVERSIONED = frozenset({"unsubscribe"})
ONE_TIME = frozenset({"data", "erase"})  # "download my data" and "erase me", mailed on request


class SpentLink(InvalidToken):
    """A genuine link that no longer works: revoked ("sign out all my links") or used once.

    `subscriber`: the reader it was mailed to (its page is shown in their language).
    """

    def __init__(self, message: str, subscriber: Subscriber) -> None:
        super().__init__(message)
        self.subscriber = subscriber


class Addressee(Protocol):
    """What a link token needs of a subscriber: a Subscriber, or its values from a query."""

    @property
    def uid(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def token_version(self) -> int: ...


def _token_data(subscriber: Addressee, **extra: Any) -> dict[str, Any]:
    return {"u": subscriber.uid, "h": address_hash(subscriber.email)[:16], **extra}


def request_fingerprint(subscriber: Subscriber) -> str:
    """A short keyed hash of the sign-up's pending name and language (no typed text in links)."""
    return address_hash(f"request\0{subscriber.pending_name}\0{subscriber.pending_language}")[:12]


def confirm_token(subscriber: Subscriber, list_ids: Sequence[int]) -> str:
    data = _token_data(
        subscriber,
        l=sorted(list_ids),
        v=subscriber.token_version or 0,
        r=request_fingerprint(subscriber),
    )
    return make_token("confirm", data)


def unsubscribe_token(subscriber: Addressee, list_id: int | None = None) -> str:
    extra = {"l": list_id} if list_id is not None else {}
    return make_token("unsubscribe", _token_data(subscriber, **extra))


def preferences_token(subscriber: Addressee) -> str:
    return make_token("preferences", _token_data(subscriber, v=subscriber.token_version or 0))


def one_time_token(subscriber: Subscriber, purpose: str) -> str:
    """A link for "download my data" or "erase me": expires, and works once (see use_once)."""
    if purpose not in ONE_TIME:
        raise ValueError(f"not a one-time purpose: {purpose}")
    data = _token_data(subscriber, v=subscriber.token_version or 0, o=subscriber.one_time_counter)
    return make_token(purpose, data)


def link_tokens(subscriber: Addressee, list_id: int) -> tuple[str, str]:
    """A digest reader's unsubscribe (from that list) and preferences tokens, hashing once."""
    data = _token_data(subscriber)
    return (
        make_token("unsubscribe", {**data, "l": list_id}),
        make_token("preferences", {**data, "v": subscriber.token_version or 0}),
    )


def one_time_max_age() -> timedelta:
    max_age: timedelta = current_app.config["ONE_TIME_LINK_MAX_AGE"]
    return max_age


def addressee(data: Any) -> Subscriber | None:
    """The subscriber a verified payload was made for, if still with us at that address.

    Only for payloads whose signature was checked: a forged token never reaches a query.
    """
    uid, digest = (data.get("u"), data.get("h")) if isinstance(data, dict) else (None, None)
    if not isinstance(uid, str) or not isinstance(digest, str):
        return None
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == uid))
    if subscriber is None or address_hash(subscriber.email)[:16] != digest:
        return None
    return subscriber


def subscriber_for(data: dict[str, Any], purpose: str) -> Subscriber:
    """The subscriber a verified payload names, if the link is still theirs; else InvalidToken."""
    subscriber = addressee(data)
    if subscriber is None:
        raise InvalidToken("unknown subscriber")
    if purpose not in UNVERSIONED and data.get("v", 0) != subscriber.token_version:
        raise SpentLink("revoked link", subscriber)
    if purpose in ONE_TIME and data.get("o") != subscriber.one_time_counter:
        raise SpentLink("one-time link already used", subscriber)
    return subscriber


def reader_of(exc: InvalidToken) -> Subscriber | None:
    """The reader a refused link was mailed to, if it is genuinely theirs and they are still
    with us: a spent link's, or an expired one's (its signature was checked before its age).
    None for any other: a forged or tampered token names no one, and nothing is read for it.
    The holder of a genuine link learns nothing new from the language: every mail with a link
    also carries an unsubscribe link, which never expires and opens in the reader's language.
    """
    if isinstance(exc, SpentLink):
        return exc.subscriber
    if isinstance(exc, ExpiredToken):
        return addressee(exc.data)
    return None


def subscriber_from_token(purpose: str, token: str, max_age: timedelta | None = None) -> Subscriber:
    """The subscriber a valid token names; raise InvalidToken (or ExpiredToken).

    One-time links always expire after ONE_TIME_LINK_MAX_AGE, whatever `max_age` says.
    """
    if purpose in ONE_TIME:
        max_age = one_time_max_age()
    return subscriber_for(read_token(purpose, token, max_age), purpose)


def use_once(subscriber: Subscriber) -> None:
    """Spend the subscriber's outstanding one-time links (the caller commits).

    A compare-and-set, not a read and a write: of two requests with the same link, the one
    that comes second finds the counter moved and gets SpentLink, even mid-flight.
    """
    seen = subscriber.one_time_counter or 0
    moved = db.session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber.id, func.coalesce(Subscriber.one_time_counter, 0) == seen
        )
        .values(one_time_counter=seen + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:
        raise SpentLink("one-time link already used", subscriber)
    set_committed_value(subscriber, "one_time_counter", seen + 1)


def revoke_links(subscriber: Subscriber) -> None:
    """Revoke every link mailed so far, except unsubscribe links (the caller commits)."""
    subscriber.token_version = (subscriber.token_version or 0) + 1


def mask_address(email: str) -> str:
    """The address as the preferences page shows it: j•••@e•••.org."""
    local, _, domain = email.rpartition("@")
    first, _, rest = domain.partition(".")
    top = rest.rsplit(".", 1)[-1] if rest else ""
    return f"{local[:1]}•••@{first[:1]}•••" + (f".{top}" if top else "")
