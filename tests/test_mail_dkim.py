"""Every mail that leaves is DKIM-signed when DKIM_* is set, and a test send is the real
digest message for a sample reader: read and verified at the SMTP server with dkimpy."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from flask import Flask
from sqlalchemy import update

from mailer import clock
from mailer.digests import lifecycle
from mailer.extensions import db
from mailer.models import Subscriber
from mailer.tasks import (
    send_already_subscribed,
    send_confirmation,
    send_link_mail,
    send_test_digest,
)
from tests.conftest import Received, SmtpServer, queued_tasks
from tests.test_dkim import DOMAIN, SELECTOR, DnsFunc, rsa_key
from tests.test_links import confirmed, make_pending
from tests.test_sending import add_subscribers, make_digest, send_all, start


@pytest.fixture
def dnsfunc(app: Flask, tmp_path: Path) -> DnsFunc:
    """A DKIM key for the app, and the DNS answer that publishes it."""
    pem, dnsfunc = rsa_key(1024)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    app.config.update(
        DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN, DKIM_PRIVATE_KEY_PATH=str(key_file)
    )
    return dnsfunc


def verified(received: Received, dnsfunc: DnsFunc) -> Received:
    assert received.raw.startswith(b"DKIM-Signature:"), received.raw[:200]
    assert dkim.verify(received.raw, dnsfunc=dnsfunc)
    return received


def test_every_one_to_one_mail_is_signed(
    app: Flask, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    smtp_server.clear()
    pending = make_pending(app, "new.reader@example.org")
    confirmed(app, "old.reader@example.org")
    with app.app_context():
        db.session.execute(
            update(Subscriber).values(confirm_requested_at=clock.now(), confirm_sent_at=None)
        )
        db.session.commit()
        old = db.session.query(Subscriber).filter_by(email="old.reader@example.org").one()
        send_confirmation(pending)
        send_already_subscribed(old.id)
        for kind in ("data", "erase", "preferences"):
            send_link_mail(old.id, kind)
    received = smtp_server.wait_for(5)
    assert len(received) == 5
    for mail in received:
        verified(mail, dnsfunc)
    subjects = [str(r.message["Subject"]) for r in received]
    assert len(set(subjects)) >= 3  # confirmation, already subscribed, link mails


def test_a_test_send_is_the_real_message_for_a_sample_reader(
    app: Flask, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    smtp_server.clear()
    add_subscribers(app, 1)
    digest_id = make_digest(app)
    with app.app_context():
        assert lifecycle.send_test(digest_id, "editor@example.org")
    ((name, args),) = queued_tasks(app)
    assert name == "mailer.send_test_digest" and "@" not in str(args)  # audit I1
    with app.app_context():
        send_test_digest(*args)
    test = verified(smtp_server.wait_for(1)[0], dnsfunc).message
    smtp_server.clear()
    start(app, digest_id)
    assert send_all(app, digest_id).sent == 1
    real = verified(smtp_server.wait_for(1)[0], dnsfunc).message

    assert test["To"] == "editor@example.org"
    assert test["Subject"] == f"[Test] {real['Subject']}"
    assert sorted(test.keys()) == sorted(real.keys())  # the same headers
    for header in ("From", "List-Id", "List-Unsubscribe-Post", "Precedence", "MIME-Version"):
        assert test[header] == real[header], header
    signed = [str(m["DKIM-Signature"]).replace(" ", "").replace("\n", "") for m in (test, real)]
    tags = [dict(t.split("=", 1) for t in s.split(";") if "=" in t) for s in signed]
    assert tags[0]["h"] == tags[1]["h"] and tags[0]["d"] == tags[1]["d"] == DOMAIN
    for message in (test, real):  # both carry the one-click URL and the signed mailto
        https, mailto = str(message["List-Unsubscribe"]).split(", ")
        assert https.startswith("<http://localhost/unsubscribe/") and mailto.startswith("<mailto:")
    text = test.get_body(("plain",))
    assert text is not None and "Hello Sam," in text.get_content()
