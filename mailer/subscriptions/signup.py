"""Sign-up: record a request for an address and decide which mail (if any) it gets.

The hot path of a sign-up burst (README, "Sign-up under a burst"): Core statements built once,
on the session's connection. Services flush; callers commit.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import (
    ARRAY,
    Connection,
    Executable,
    Integer,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import sqlite

from mailer import clock
from mailer.extensions import db
from mailer.models import (
    AddressMail,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.models.base import new_uid
from mailer.privacy import address_hash
from mailer.subscriptions import address_cap
from mailer.subscriptions.consent import consent_values


class SignupOutcome(enum.Enum):
    confirmation = "confirmation"  # send a confirmation mail
    already_subscribed = "already_subscribed"  # send "manage your preferences"
    nothing = "nothing"  # suppressed, or held back by the per-address cap: send and change nothing


@dataclass(frozen=True)
class Signup:
    outcome: SignupOutcome
    subscriber_id: int | None
    address_hash: str


def subscribe(
    email: str,
    *,
    lists: Sequence[MailingList],
    name: str | None = None,
    language: str = "en",
    source: str = "form",
    ip: str | None = None,
    shown_in: str | None = None,
) -> Signup:
    """Record a sign-up request for a normalised address; decide which mail (if any) it gets.

    Whoever submits the form may not own the address, so it changes no subscriber's name,
    language or confirmed lists: the name and language wait in `pending_*` until the owner
    confirms. A request the per-address cap holds back changes nothing at all. `shown_in`:
    the language of the consent wording the visitor saw, kept in the consent record.
    """
    digest = address_hash(email)
    db.session.flush()  # what follows reads through the connection: no autoflush there
    conn = db.session.connection()
    capped = bool(current_app.config["RATELIMIT_ENABLED"])
    limits = len(address_cap.windows(address_cap.SIGNUP)) if capped else 0
    params = {"digest": digest, "email": email}
    if capped:
        params |= address_cap.used_params(digest, address_cap.SIGNUP, clock.now())
    # One round trip: suppression, whether known (and confirmed), and the cap's slots in use.
    reason, known_id, confirmed, *used = conn.execute(_lookup(limits), params).one()
    if reason not in (None, SuppressionReason.erased):
        return Signup(SignupOutcome.nothing, None, digest)  # as may_confirm() says
    # Slots in a window only grow: a full cap stays full, no lock needed to say so. With room,
    # take_slot counts again under the subscriber's row lock (two requests, one last slot).
    if capped and not address_cap.has_room(used, address_cap.SIGNUP):
        return Signup(SignupOutcome.nothing, None, digest)
    if known_id is None:
        consent = _consent(source, lists, ip, shown_in)
        new_id = _insert_new(conn, email, digest, lists, name, language, consent, capped)
        if new_id is not None:
            return Signup(SignupOutcome.confirmation, new_id, digest)
        known_id, confirmed = conn.execute(_KNOWN, {"email": email}).one()  # a concurrent one won
    if not address_cap.take_slot(digest, address_cap.SIGNUP, known_id):
        return Signup(SignupOutcome.nothing, None, digest)
    if confirmed:
        return Signup(SignupOutcome.already_subscribed, known_id, digest)
    subscriber = db.session.get_one(Subscriber, known_id)
    subscriber.pending_name, subscriber.pending_language = name or None, language
    existing = {s.list_id: s for s in subscriber.subscriptions}
    for lst in lists:
        sub = existing.get(lst.id)
        if sub is None:
            subscriber.subscriptions.append(Subscription(list_id=lst.id))
        elif sub.status == SubscriptionStatus.unsubscribed:
            sub.status, sub.created_at = SubscriptionStatus.pending, utcnow()
    subscriber.confirm_requested_at = subscriber.confirm_queued_at = clock.now()
    # Not through subscriber.consents: appending would load every earlier record first.
    consent = _consent(source, lists, ip, shown_in)
    db.session.add(ConsentRecord(subscriber_id=subscriber.id, **consent))
    db.session.flush()
    return Signup(SignupOutcome.confirmation, subscriber.id, digest)


# The sign-up's statements, built once (compiled once per process, then from the cache).
_CONFIRMED = (
    exists()
    .where(
        Subscription.subscriber_id == Subscriber.id,
        Subscription.status == SubscriptionStatus.confirmed,
    )
    .label("confirmed")
)
_KNOWN = select(Subscriber.id, _CONFIRMED).where(Subscriber.email == bindparam("email"))


@functools.lru_cache(maxsize=8)
def _lookup(limits: int) -> Executable:
    """The address's suppression, its subscriber id and whether confirmed on some list (NULLs
    when new), and the slots it uses in each of the cap's `limits` windows."""
    known = select(Subscriber.id, _CONFIRMED).where(Subscriber.email == bindparam("email"))
    return select(
        select(Suppression.reason)
        .where(Suppression.address_hash == bindparam("digest"))
        .scalar_subquery(),
        known.with_only_columns(Subscriber.id).scalar_subquery(),
        known.with_only_columns(_CONFIRMED).scalar_subquery(),
        *address_cap.used_columns(limits),
    )


def _insert_new(
    conn: Connection,
    email: str,
    digest: str,
    lists: Sequence[MailingList],
    name: str | None,
    language: str,
    consent: dict[str, Any],
    capped: bool,
) -> int | None:
    """Insert a new address with its pending subscriptions, consent record and cap slot.

    The caller found the cap with room. None when a concurrent sign-up inserted the address
    first (the caller takes that row): its cap slot is counted again, under the row's lock.
    No lock here: the uncommitted row makes any other insert of the address wait, and any
    other request for the address locks that row before it counts.
    """
    now, created = clock.now(), utcnow()
    params = {
        "uid": new_uid(),
        "email": email,
        "digest": digest,
        "language": language,
        "pending_name": name or None,
        "now": now,
        "created": created,
        **{k: v for k, v in consent.items() if k != "language"},
        "consent_language": consent["language"],
    }
    if conn.dialect.name == "postgresql":  # one statement: the subscriber and all it needs
        params["list_ids"] = [lst.id for lst in lists]
        new_id = conn.execute(_insert_all_postgresql(capped), params).scalar()
        return None if new_id is None else int(new_id)
    new_id = conn.execute(_INSERT_SUBSCRIBER, params).scalar()
    if new_id is None:
        return None
    if capped:
        conn.execute(_INSERT_SLOT, params)
    rows = [{"subscriber_id": new_id, "list_id": lst.id, "created": created} for lst in lists]
    conn.execute(_INSERT_SUBSCRIPTION, rows)
    conn.execute(_INSERT_CONSENT, {**params, "subscriber_id": new_id})
    return int(new_id)


def _column(table: Any, name: str) -> Any:
    return table.__table__.c[name]


def _param(table: Any, column: str, name: str | None = None) -> Any:
    """A bound parameter typed as `table.column` (so that it is converted as the column is)."""
    return bindparam(name or column, type_=_column(table, column).type)


_SUBSCRIBER_VALUES = {
    "uid": _param(Subscriber, "uid"),
    "email": _param(Subscriber, "email"),
    "address_hash": _param(Subscriber, "address_hash", "digest"),
    "language": _param(Subscriber, "language"),
    "created_at": _param(Subscriber, "created_at", "created"),
    "pending_name": _param(Subscriber, "pending_name"),
    "pending_language": _param(Subscriber, "pending_language", "language"),
    "confirm_requested_at": _param(Subscriber, "confirm_requested_at", "now"),
    "confirm_queued_at": _param(Subscriber, "confirm_queued_at", "now"),
    # Their Python defaults would be bound as NULL inside a CTE.
    "token_version": literal(0, Integer),
    "one_time_counter": literal(0, Integer),
}
_CONSENT_VALUES = {
    "action": _param(ConsentRecord, "action"),
    "consent_version": _param(ConsentRecord, "consent_version"),
    "language": _param(ConsentRecord, "language", "consent_language"),  # not the reader's
    "source": _param(ConsentRecord, "source"),
    "lists": _param(ConsentRecord, "lists"),
    "ip_hash": _param(ConsentRecord, "ip_hash"),
    "created_at": _param(ConsentRecord, "created_at", "created"),
}
_SLOT_VALUES = {
    "address_hash": _param(AddressMail, "address_hash", "digest"),
    "kind": literal(address_cap.SIGNUP, _column(AddressMail, "kind").type),
    "created_at": _param(AddressMail, "created_at", "now"),
}
_INSERT_SUBSCRIBER = (
    sqlite.insert(Subscriber)
    .values(_SUBSCRIBER_VALUES)
    .on_conflict_do_nothing(index_elements=["email"])
    .returning(Subscriber.id)
)
_INSERT_SLOT = insert(AddressMail).values(_SLOT_VALUES)
_INSERT_SUBSCRIPTION = insert(Subscription).values(
    subscriber_id=bindparam("subscriber_id"),
    list_id=bindparam("list_id"),
    status=SubscriptionStatus.pending,
    created_at=_param(Subscription, "created_at", "created"),
)
_INSERT_CONSENT = insert(ConsentRecord).values(
    subscriber_id=bindparam("subscriber_id"), **_CONSENT_VALUES
)


@functools.lru_cache(maxsize=2)
def _insert_all_postgresql(capped: bool) -> Executable:
    """INSERT the subscriber (nothing if the address exists: then no row comes back) and, in
    data-modifying CTEs of the same statement, its subscriptions, consent record and slot."""
    # Imported here: the package loads every PostgreSQL driver's dialect (~0.1 s), which a
    # SQLite deployment, and every `mailer` command's start, would pay for nothing.
    from sqlalchemy.dialects import postgresql

    new = (
        postgresql.insert(Subscriber)
        .values(_SUBSCRIBER_VALUES)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Subscriber.id)
        .cte("new_subscriber")
    )

    def insert_from_new(model: Any, values: dict[str, Any], name: str, owned: bool = True) -> Any:
        """INSERT a row of `values` (and the new subscriber's id if `owned`) per new row."""
        columns = [*(["subscriber_id"] if owned else []), *values]
        chosen = [*([new.c.id] if owned else []), *values.values()]
        return insert(model).from_select(columns, select(*chosen).select_from(new)).cte(name)

    subscriptions = insert_from_new(
        Subscription,
        {
            "list_id": func.unnest(bindparam("list_ids", type_=ARRAY(Integer))),
            "status": literal(SubscriptionStatus.pending, _column(Subscription, "status").type),
            "created_at": _param(Subscription, "created_at", "created"),
        },
        "new_subscriptions",
    )
    ctes = [subscriptions, insert_from_new(ConsentRecord, _CONSENT_VALUES, "new_consent")]
    if capped:
        ctes.append(insert_from_new(AddressMail, _SLOT_VALUES, "new_slot", owned=False))
    return select(new.c.id).add_cte(*ctes)


def _consent(
    source: str, lists: Sequence[MailingList], ip: str | None, language: str | None = None
) -> dict[str, Any]:
    """The columns of a sign-up's consent record (`language`: the wording's, as shown)."""
    return consent_values("signup", source, [lst.slug for lst in lists], ip, language)


def mark_not_queued(subscriber_id: int) -> None:
    """The confirmation task could not be enqueued: leave it to the sweeper."""
    db.session.execute(
        update(Subscriber).where(Subscriber.id == subscriber_id).values(confirm_queued_at=None)
    )
