"""The per-address cap on mail strangers can trigger (audit M2), over simulated weeks.

The clock is injected (`app.extensions["mailer.clock"]`): the cap, the sign-up requests and
the confirmation sweeper all read it, so a month of re-submissions runs in seconds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import AddressMail, Subscriber, SubscriptionStatus
from mailer.privacy import address_hash
from mailer.subscriptions import service
from mailer.tasks import send_already_subscribed, send_confirmation, sweep_confirmations
from tests.conftest import csrf_token, links_in

VICTIM = "journalist@example.org"
DAY = timedelta(days=1)
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TASKS: dict[str, Callable[..., None]] = {
    "mailer.send_confirmation": send_confirmation,
    "mailer.send_already_subscribed": send_already_subscribed,
}


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # The cap's defaults; the per-IP limit (real time, in Redis) out of the way.
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "100000 per minute"}


@pytest.fixture
def clock(app: Flask) -> Iterator[FakeClock]:
    fake = FakeClock()
    app.extensions["mailer.clock"] = fake
    yield fake


def run_queue(app: Flask, *, lose: bool = False) -> None:
    """Run the queued mail tasks as a worker would, or lose them (a Redis crash)."""
    client: redis_lib.Redis = app.extensions["redis"]
    raw = client.lrange("mail", 0, -1)
    if not raw:
        return
    client.delete("mail")
    if lose:
        return
    with app.app_context():
        for item in reversed(raw):
            message = json.loads(item)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            TASKS[message["headers"]["task"]](*args)


class Attacker:
    """Re-submits one address through the form, and through any resend page it reaches."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = csrf_token(client.get("/subscribe").get_data(as_text=True))
        self.answers: set[tuple[int, str, bytes, bool]] = set()

    def sign_up(self, email: str) -> None:
        response = self.client.post(
            "/subscribe",
            data={
                "csrf_token": self.token,
                "email": email,
                "name": "URGENT: verify your account at https://evil.example/login",
                "lists": "weekly",
                "language": "en",
                "consent": "y",
            },
        )
        cookie = "Set-Cookie" in response.headers
        answer = (response.status_code, response.headers["Location"], response.get_data(), cookie)
        self.answers.add(answer)

    def resend(self, confirm_path: str) -> None:
        response = self.client.post(f"{confirm_path}/resend", data={"csrf_token": self.token})
        assert response.status_code in (303, 404)


def simulate(
    app: Flask,
    client: FlaskClient,
    outbox: list[EmailMessage],
    clock: FakeClock,
    days: int,
    lose_every: int = 5,
) -> list[datetime]:
    """Sign the victim up every 17 minutes for `days`; the times the victim got a mail.

    Every `lose_every`th step Redis loses the queued tasks: only the sweeper can send those.
    """
    attacker = Attacker(client)
    delivered: list[datetime] = []
    step = timedelta(minutes=17)
    for i in range(int(days * DAY / step)):
        attacker.sign_up(VICTIM)
        if outbox and i % 7 == 3:  # a link from an earlier mail, if the attacker got one
            confirm = [u for u in links_in(outbox[-1]) if "/confirm/" in u]
            if confirm:
                attacker.resend(confirm[0].replace("http://localhost", ""))
        before = len(outbox)
        run_queue(app, lose=i % lose_every == 0)
        delivered += [clock.now] * (len(outbox) - before)
        clock.now += step
        with app.app_context():
            sweep_confirmations()
        before = len(outbox)
        run_queue(app)
        delivered += [clock.now] * (len(outbox) - before)
    assert len(attacker.answers) == 1, "held-back sign-ups must look like any other"
    assert all(msg["To"] == VICTIM for msg in outbox)
    return delivered


def assert_capped(delivered: list[datetime], per_day: int, per_month: int) -> None:
    for at in delivered:
        assert sum(at - DAY < t <= at for t in delivered) <= per_day, delivered
        assert sum(at - 30 * DAY < t <= at for t in delivered) <= per_month, delivered


def test_a_month_of_resubmissions_gets_at_most_one_mail_a_day_and_three_a_month(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], clock: FakeClock
) -> None:
    delivered = simulate(app, client, outbox, clock, days=30)
    assert 0 < len(delivered) <= 3
    assert_capped(delivered, per_day=1, per_month=3)
    for msg in outbox:  # no stranger's text in the mail (audit M3)
        assert "URGENT" not in msg.as_string() and "evil.example" not in msg.as_string()
    with app.app_context():
        rows = db.session.scalars(select(AddressMail)).all()
        assert rows and {r.address_hash for r in rows} == {address_hash(VICTIM)}
        stored = json.dumps([[r.address_hash, r.kind] for r in rows])
        assert "journalist" not in stored and "example.org" not in stored


def test_a_confirmed_address_gets_already_subscribed_mails_under_the_same_cap(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], clock: FakeClock
) -> None:
    with app.app_context():
        signup = service.subscribe(VICTIM, lists=service.lists_by_slug(["weekly"]))
        sub = db.session.get(Subscriber, signup.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = SubscriptionStatus.confirmed
        db.session.commit()
    clock.now += DAY  # the sign-up above took today's slot
    # no sweeper for these: a lost "already subscribed" mail stays lost
    delivered = simulate(app, client, outbox, clock, days=5, lose_every=10**9)
    assert 0 < len(delivered) <= 2  # 3 in 30 days, one of them the original sign-up
    assert_capped(delivered, per_day=1, per_month=3)
    assert {m["Subject"] for m in outbox} == {
        "You are already subscribed to The Free Expression Network"
    }


class TestConfigurable:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_SIGNUP_IP": "100000 per minute",
            "RATELIMIT_SIGNUP_ADDRESS": "2 per 6 hours;5 per 7 days",
        }

    def test_the_windows_come_from_the_setting(
        self, app: Flask, client: FlaskClient, outbox: list[EmailMessage], clock: FakeClock
    ) -> None:
        delivered = simulate(app, client, outbox, clock, days=7)
        assert 2 < len(delivered) <= 5
        for at in delivered:
            assert sum(at - timedelta(hours=6) < t <= at for t in delivered) <= 2
            assert sum(at - 7 * DAY < t <= at for t in delivered) <= 5


def test_the_sweeper_does_not_send_what_the_cap_held_back(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], clock: FakeClock
) -> None:
    """The audit's probe: sign-up 1 mailed, sign-up 2 held back, the sweeper 31 min later."""
    attacker = Attacker(client)
    attacker.sign_up(VICTIM)
    run_queue(app)
    assert len(outbox) == 1
    clock.now += timedelta(minutes=1)
    with app.app_context():
        before = db.session.scalar(select(Subscriber).where(Subscriber.email == VICTIM))
        assert before is not None
        requested = before.confirm_requested_at
    attacker.sign_up(VICTIM)
    with app.app_context():
        after = db.session.scalar(select(Subscriber).where(Subscriber.email == VICTIM))
        assert after is not None and after.confirm_requested_at == requested
    run_queue(app)
    clock.now += timedelta(minutes=31)
    with app.app_context():
        assert sweep_confirmations() == 0
    run_queue(app)
    assert len(outbox) == 1


def test_a_pending_import_takes_the_same_slots(
    app: Flask, client: FlaskClient, runner: Any, clock: FakeClock, tmp_path: Any
) -> None:
    Attacker(client).sign_up(VICTIM)  # today's mail
    path = tmp_path / "people.csv"
    path.write_text(f"email,name\n{VICTIM},Someone\nother@example.org,Other\n")
    args = ["subscribers", "import", str(path), "--list", "alerts"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "imported 1, already subscribed 0, refused 1" in result.output
    assert "line 2: a confirmation mail went to this address recently" in result.output
    clock.now += DAY
    # The victim's slot is free again; other@, still to confirm, is already subscribed.
    assert (
        "imported 1, already subscribed 1 (1 awaiting confirmation), refused 0;"
        " 2 confirmation mails queued"
    ) in runner.invoke(args=args).output


@pytest.mark.parametrize("existing", [False, True])
def test_concurrent_sign_ups_of_one_address_take_one_slot(
    app: Flask, clock: FakeClock, existing: bool
) -> None:
    """The row lock in take_slot: requests racing for one address cannot share the last slot."""
    import threading

    if existing:  # a pending subscriber whose slot of yesterday is free again
        with app.app_context():
            service.subscribe(VICTIM, lists=service.lists_by_slug(["weekly"]))
            db.session.commit()
        clock.now += 2 * DAY
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def sign_up() -> None:
        with app.app_context():
            barrier.wait()
            signup = service.subscribe(VICTIM, lists=service.lists_by_slug(["weekly"]))
            db.session.commit()
            outcomes.append(signup.outcome.value)

    threads = [threading.Thread(target=sign_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["confirmation"] + ["nothing"] * 5
    with app.app_context():
        assert len(db.session.scalars(select(AddressMail)).all()) == 1 + existing
        assert len(db.session.scalars(select(Subscriber)).all()) == 1


def test_a_held_back_sign_up_takes_the_floor_too(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    import time

    app.config["SIGNUP_MIN_DURATION"] = 0.2
    attacker = Attacker(client)
    for _ in range(3):  # the first takes the slot, the others are held back
        started = time.monotonic()
        attacker.sign_up(VICTIM)
        assert time.monotonic() - started >= 0.2
    assert len(attacker.answers) == 1


def test_reimporting_pending_addresses_counts_them_and_mails_none_within_the_cap(
    app: Flask, runner: Any, clock: FakeClock, outbox: list[EmailMessage], tmp_path: Any
) -> None:
    """Before, the second run refused both rows ("a confirmation mail went to this address
    recently") and said "already subscribed 0"."""
    path = tmp_path / "people.csv"
    path.write_text(f"email\n{VICTIM}\nother@example.org\n")
    args = ["subscribers", "import", str(path), "--list", "alerts"]
    first = runner.invoke(args=args)
    assert "imported 2, already subscribed 0, refused 0; 2 confirmation mails queued" in (
        first.output
    )
    run_queue(app)
    assert len(outbox) == 2
    clock.now += timedelta(hours=1)
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert (
        "imported 0, already subscribed 2 (2 awaiting confirmation), refused 0;"
        " 0 confirmation mails queued"
    ) in again.output
    assert "recently" not in again.output
    run_queue(app)
    assert len(outbox) == 2  # no second mail within the cap
    clock.now += DAY  # past the cap's day: a pending address gets its link again, as by the form
    later = runner.invoke(args=args)
    assert "already subscribed 2 (2 awaiting confirmation), refused 0; 2 confirmation mails" in (
        later.output
    )
    run_queue(app)
    assert len(outbox) == 4
    with app.app_context():
        pending = db.session.scalar(select(Subscriber).where(Subscriber.email == VICTIM))
        assert pending is not None and len(pending.consents) == 1  # one request, one record
