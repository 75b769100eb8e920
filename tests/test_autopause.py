"""Auto-pause: the limits and their minimum sample, and a digest that pauses itself through the
real bounce processing (mailer.bounces.service), mails the editors and can be resumed."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from mailer.admin.auth import create_editor
from mailer.bounces import service as bounces
from mailer.digests import autopause, lifecycle, outbox, sending
from mailer.digests.autopause import Counts, Limits, min_sample, passes, verdict
from mailer.extensions import db
from mailer.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Editor,
    MailingList,
    Subscriber,
)
from mailer.tasks import send_digest_batch, send_pause_notice
from mailer.verp import verp_address
from tests.bounce_helpers import bounce
from tests.conftest import SmtpServer, queued_tasks
from tests.test_admin import PASSWORD, login
from tests.test_dkim import DnsFunc
from tests.test_mail_dkim import dnsfunc, verified  # noqa: F401 (a fixture)
from tests.test_sending import add_subscribers, make_digest, start

# --- the limits -------------------------------------------------------------------------------


def test_a_rate_pauses_only_past_its_limit_and_once_the_minimum_sample_is_out() -> None:
    assert not passes(25, 500, 5.0, 500)  # 5 % is the limit, not past it
    assert passes(26, 500, 5.0, 500)
    assert not passes(40, 499, 5.0, 500)  # 8 %, but the sample is not out yet
    assert passes(40, 500, 5.0, 500)
    assert not passes(400, 500, 0.0, 500)  # 0: never
    assert passes(3, 10, 20.0, 10) and not passes(2, 10, 20.0, 10)


def test_one_complaint_alone_never_pauses_a_send() -> None:
    """At 0.1 % the sample is 1,000, not 500: one complaint among 600 readers is 0.17 %."""
    assert min_sample(0.1, 500) == 1000
    assert min_sample(5.0, 500) == 500
    assert min_sample(20.0, 10) == 10
    assert not passes(1, 600, 0.1, 500)
    assert not passes(1, 1000, 0.1, 500)
    assert passes(2, 1000, 0.1, 500)
    assert not any(passes(1, out, rate, 1) for out in range(1, 3000) for rate in (0.1, 1, 5, 50))


def test_the_cheap_look_never_misses_a_pause() -> None:
    """may_pass (no count of messages) is true whenever some count would pause."""
    for events, out, rate, least in itertools.product(
        range(0, 40), range(1, 120), (0.5, 5.0, 20.0), (1, 10, 50)
    ):
        if passes(events, out, rate, least):
            assert autopause.may_pass(events, rate, least), (events, out, rate, least)


def test_the_reason_says_what_passed_which_limit() -> None:
    limits = Limits(bounce_rate=5.0, complaint_rate=0.1, min_sent=500)
    assert verdict(Counts(out=520, hard=20, complaints=0), limits) is None
    reason = verdict(Counts(out=520, hard=31, complaints=0), limits)
    assert reason is not None
    assert "31 hard bounces among 520 messages sent (5.96 %)" in reason
    assert "limit of 5 %" in reason and "once 500 messages" in reason
    reason = verdict(Counts(out=2000, hard=0, complaints=3), limits)
    assert reason is not None and "3 complaints" in reason and "limit of 0.1 %" in reason
    assert len(reason) < 500


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"AUTO_PAUSE_BOUNCE_RATE": 3.0, "AUTO_PAUSE_COMPLAINT_RATE": 0.2}


def test_limits_come_from_the_settings_unless_the_list_sets_its_own(app: Flask) -> None:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        assert autopause.limits_of(weekly) == Limits(3.0, 0.2, 500)
        weekly.pause_bounce_rate, weekly.pause_min_sent = 0.0, 50
        assert autopause.limits_of(weekly) == Limits(0.0, 0.2, 50)


# --- a digest that pauses itself --------------------------------------------------------------

EDITOR = "editor@newsroom.test"


def sending_digest(app: Flask, readers: int, *, rate: float = 20.0, least: int = 10) -> int:
    """A digest of `readers` started on a list with the given limits, and an editor."""
    add_subscribers(app, readers)
    with app.app_context():
        db.session.execute(
            update(MailingList)
            .where(MailingList.slug == "weekly")
            .values(pause_bounce_rate=rate, pause_complaint_rate=rate, pause_min_sent=least)
        )
        create_editor(EDITOR, PASSWORD)
        db.session.commit()
    digest_id = make_digest(app)
    assert start(app, digest_id) == readers
    return digest_id


def send_range(app: Flask, digest_id: int, index: int, size: int) -> tuple[int, int]:
    """Send the index-th range of `size` deliveries directly (no task); the range."""
    with app.app_context():
        lo, hi = outbox.batch_ranges(digest_id, size)[index]
        sending.send_batch(digest_id, lo, hi)
        return lo, hi


def sent_readers(app: Flask, digest_id: int) -> list[tuple[str, str]]:
    """(address, VERP) of the digest's sent deliveries, in delivery order."""
    with app.app_context():
        rows = db.session.execute(
            select(Subscriber.email, Delivery.id)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.sent)
            .order_by(Delivery.id)
        ).all()
        return [(email, verp_address(delivery_id)) for email, delivery_id in rows]


def report(app: Flask, reader: tuple[str, str], fixture: str = "postfix_hard.eml") -> None:
    """A bounce (or complaint) for one reader's message, through the bounce processing."""
    email, verp = reader
    with app.app_context():
        assert bounces.record(bounce(fixture, verp, email, msgid=email), [verp]) is not None
        db.session.commit()


def state(app: Flask, digest_id: int) -> tuple[DigestStatus, str | None]:
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        return digest.status, digest.pause_reason


def test_hard_bounces_past_the_limit_pause_the_digest_and_mail_the_editors(
    app: Flask,
    smtp_server: SmtpServer,
    dnsfunc: DnsFunc,  # noqa: F811
) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    readers = sent_readers(app, digest_id)
    assert len(readers) == 12
    for reader in readers[:2]:  # 2 of 12: 16.7 %, under 20 %
        report(app, reader)
    assert state(app, digest_id) == (DigestStatus.sending, None)
    assert queued_tasks(app) == []
    report(app, readers[2])  # 3 of 12: 25 %
    status, reason = state(app, digest_id)
    assert status == DigestStatus.paused
    assert reason is not None and "3 hard bounces among 12 messages sent (25 %)" in reason
    with app.app_context():
        editor_id = db.session.scalar(select(Editor.id))
    assert queued_tasks(app) == [("mailer.send_pause_notice", [digest_id, editor_id])]
    # A later bounce changes nothing: the digest is paused once, the editors mailed once.
    report(app, readers[3])
    assert len(queued_tasks(app)) == 1

    smtp_server.clear()
    with app.app_context():
        send_pause_notice(digest_id, editor_id)
    [mail] = smtp_server.wait_for(1)
    verified(mail, dnsfunc)
    assert mail.rcpt_tos == [EDITOR]
    assert mail.message["Subject"] == "Sending paused: This week"
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert reason in text and f"http://localhost/admin/digests/{digest_id}" in text
    assert b"reader" not in mail.raw  # no subscriber's address, not even a local part


def test_a_complaint_rate_past_the_limit_pauses_too(app: Flask) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    readers = sent_readers(app, digest_id)
    for reader in readers[:3]:
        report(app, reader, "arf_complaint.eml")
    status, reason = state(app, digest_id)
    assert status == DigestStatus.paused
    assert reason is not None and "3 complaints among 12 messages sent" in reason


def test_bounces_before_the_minimum_sample_pause_at_the_end_of_the_next_batch(
    app: Flask,
) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 6)
    readers = sent_readers(app, digest_id)
    for reader in readers[:3]:  # 50 %, but only 6 of the 10 messages of the sample are out
        report(app, reader)
    assert state(app, digest_id)[0] == DigestStatus.sending
    with app.app_context():
        lo, hi = outbox.batch_ranges(digest_id, 6)[0]  # the next open range
        send_digest_batch(digest_id, lo, hi)
    status, reason = state(app, digest_id)
    assert status == DigestStatus.paused
    assert reason is not None and "3 hard bounces among 12 messages sent" in reason
    with app.app_context():
        assert outbox.batch_ranges(digest_id, 6), "the rest waits for the editor"


def test_a_resume_counts_only_what_is_sent_after_it(app: Flask) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    before = sent_readers(app, digest_id)
    for reader in before[:3]:
        report(app, reader)
    assert state(app, digest_id)[0] == DigestStatus.paused
    with app.app_context():
        lifecycle.resume(digest_id)
        digest = db.session.get(Digest, digest_id)
        assert digest is not None and digest.rates_since is not None
    assert state(app, digest_id) == (DigestStatus.sending, None)
    # Late bounces of messages sent before the resume: the editor resumed knowing them.
    for reader in before[3:6]:
        report(app, reader)
    assert state(app, digest_id)[0] == DigestStatus.sending
    # The 8 messages sent since: 2 bounces are 25 %, but the sample of 10 is not out again.
    send_range(app, digest_id, 0, 12)
    after = [r for r in sent_readers(app, digest_id) if r not in before]
    assert len(after) == 8
    for reader in after[:2]:
        report(app, reader)
    with app.app_context():
        assert autopause.check(digest_id) is None
    with app.app_context():
        db.session.execute(update(Digest).values(status=DigestStatus.sent))
        db.session.commit()
        assert autopause.check(digest_id) is None  # not sending: nothing to stop


def test_the_page_and_its_progress_say_why_it_paused(app: Flask, client: FlaskClient) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    for reader in sent_readers(app, digest_id)[:3]:
        report(app, reader)
    assert login(client, EDITOR).status_code == 303
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Paused automatically: 3 hard bounces among 12 messages sent" in page
    assert "count only the messages sent after the resume" in page
    listing = client.get("/admin/digests").get_data(as_text=True)
    assert "by itself: too many bounces or complaints" in listing
    progress = client.get(f"/admin/digests/{digest_id}/progress.json").get_json()
    assert progress["status"] == "paused"
    assert progress["pause_reason"].startswith("Paused automatically: 3 hard bounces")
    assert client.post(f"/admin/digests/{digest_id}/resume").status_code == 400  # no CSRF
    with app.app_context():
        lifecycle.resume(digest_id)
    progress = client.get(f"/admin/digests/{digest_id}/progress.json").get_json()
    assert progress["pause_reason"] is None
    page = client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert "Paused automatically" not in page


def test_the_progress_of_a_digest_is_for_editors_only(app: Flask, client: FlaskClient) -> None:
    digest_id = sending_digest(app, 2)
    response = client.get(f"/admin/digests/{digest_id}/progress.json")
    assert response.status_code in (302, 303, 401)


def test_the_cli_says_why_it_paused_and_resumes_it(app: Flask) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    for reader in sent_readers(app, digest_id)[:3]:
        report(app, reader)
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["digest", "status", str(digest_id)])
    assert shown.exit_code == 0, shown.output
    assert f"Digest {digest_id} (paused): sent 12" in shown.output
    assert "Paused automatically: 3 hard bounces among 12 messages sent" in shown.output
    resumed = runner.invoke(args=["digest", "resume", str(digest_id)])
    assert resumed.exit_code == 0, resumed.output
    shown = runner.invoke(args=["digest", "status", str(digest_id)])
    assert "(sending)" in shown.output and "Paused automatically" not in shown.output


def test_forged_bounces_never_pause_a_digest(app: Flask) -> None:
    digest_id = sending_digest(app, 20)
    send_range(app, digest_id, 0, 12)
    for email, verp in sent_readers(app, digest_id)[:6]:
        forged = verp[: verp.index(".") + 1] + "0123456789ab" + verp[verp.index("@") :]
        with app.app_context():
            event = bounces.record(bounce("postfix_hard.eml", forged, email, msgid=email), [])
            assert event is not None and not event.attributed
            db.session.commit()
    assert state(app, digest_id) == (DigestStatus.sending, None)
