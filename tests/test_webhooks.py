"""Provider webhooks: SES through SNS (signature, topic, certificate host) and Mailgun.

Simulated: the AWS certificate host. SNS fetches its signing certificate from
https://sns.<region>.amazonaws.com; here a real HTTP server on 127.0.0.1 serves a self-signed
certificate made for the tests, and the config allows that host over plain http
(SES_SNS_CERT_HOST_PATTERN, SES_SNS_CERT_ALLOW_HTTP). The signatures are real RSA signatures
over the canonical text AWS documents, written here independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import BounceEvent, BounceKind, Subscriber, SubscriptionStatus, SuppressionReason
from tests.bounce_helpers import sent_digest, suppression

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
READER = "reader1@example.org"
MAILGUN_KEY = "key-for-mailgun-tests"
SES_URL = "/api/v1/webhooks/ses"
MAILGUN_URL = "/api/v1/webhooks/mailgun"


class CertServer:
    """Stands in for sns.<region>.amazonaws.com: serves the certificate, records every GET."""

    def __init__(self, pem: bytes) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                owner.requests.append(self.path)
                body = pem if self.path == "/cert.pem" else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key: rsa.RSAPrivateKey, common_name: str = "sns.test.invalid") -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def cert_server(signing_key: rsa.RSAPrivateKey) -> Iterator[CertServer]:
    server = CertServer(certificate(signing_key))
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {
        "SES_SNS_TOPIC_ARNS": [TOPIC],
        "SES_SNS_CERT_HOST_PATTERN": r"127\.0\.0\.1",
        "SES_SNS_CERT_SUBJECTS": ["sns.test.invalid"],
        "SES_SNS_CERT_ALLOW_HTTP": True,
        "SES_SNS_TIMEOUT": 5.0,
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    }


# --- SNS messages, signed as AWS does ----------------------------------------------------------

SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        *["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    ],
}


def sign(message: dict[str, str], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, str]:
    text = "".join(f"{n}\n{message[n]}\n" for n in SIGNED[message["Type"]] if n in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {
        **message,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
    }


def sns(
    server: CertServer,
    key: rsa.RSAPrivateKey,
    event: dict[str, Any],
    *,
    message_id: str | None = None,
    topic: str = TOPIC,
    cert_url: str | None = None,
    version: str = "1",
) -> dict[str, str]:
    message = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(event),
        "Timestamp": "2026-11-25T12:00:00.000Z",
        "SigningCertURL": cert_url or f"{server.base}/cert.pem",
    }
    return sign(message, key, version)


def ses_bounce(verp: str, bounce_type: str = "Permanent", status: str = "5.1.1") -> dict[str, Any]:
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": READER,
                    "action": "failed",
                    "status": status,
                    "diagnosticCode": f"smtp; 550 {status} <{READER}>: user unknown",
                }
            ],
        },
        "mail": {
            "source": verp,
            "destination": [READER],
            "headers": [{"name": "Return-Path", "value": f"<{verp}>"}],
            "commonHeaders": {"from": ["newsletter@example.org"], "to": [READER]},
        },
    }


def ses_complaint(verp: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": READER}]},
        "mail": {"source": "newsletter@example.org", "commonHeaders": {"returnPath": verp}},
    }


def post(client: FlaskClient, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="text/plain; charset=UTF-8")


def events(app: Flask) -> list[BounceEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(BounceEvent).order_by(BounceEvent.id)))
        db.session.expunge_all()
        return rows


def event_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(BounceEvent.id))) or 0)


# --- SES ---------------------------------------------------------------------------------------


def test_ses_permanent_bounce_suppresses(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    response = post(client, SES_URL, sns(cert_server, signing_key, ses_bounce(verps[READER])))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "recorded"}
    [event] = events(app)
    assert (event.kind, event.attributed, event.status) == (BounceKind.hard, True, "5.1.1")
    assert event.delivery_id is not None and READER not in (event.diagnostic or "")
    assert suppression(app, READER) == SuppressionReason.hard_bounce
    assert suppression(app, "reader0@example.org") is None


def test_ses_transient_bounces_count_as_soft(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    event = ses_bounce(verps[READER], "Transient", "4.2.2")
    for n in range(3):
        assert suppression(app, READER) is None, n
        message = sns(cert_server, signing_key, event, version="2")  # SHA256withRSA
        assert post(client, SES_URL, message).status_code == 200
    assert [e.kind for e in events(app)] == [BounceKind.soft] * 3
    assert suppression(app, READER) == SuppressionReason.soft_bounce


def test_ses_complaint_unsubscribes_and_suppresses(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    response = post(client, SES_URL, sns(cert_server, signing_key, ses_complaint(verps[READER])))
    assert response.status_code == 200
    assert suppression(app, READER) == SuppressionReason.complaint
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == READER))
        assert subscriber is not None
        assert {s.status for s in subscriber.subscriptions} == {SubscriptionStatus.unsubscribed}


def test_ses_without_a_valid_verp_is_unattributed(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    forged = verps[READER].replace("+", "+9").split(".")[0] + ".abcdefabcdef@example.org"
    for source in ("newsletter@example.org", forged):
        message = sns(cert_server, signing_key, ses_bounce(source))
        assert post(client, SES_URL, message).status_code == 200
    assert [(e.kind, e.attributed, e.subscriber_id) for e in events(app)] == [
        (BounceKind.hard, False, None)
    ] * 2
    assert suppression(app, READER) is None


def test_ses_bad_signature_is_403_and_records_nothing(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    message = sns(cert_server, signing_key, ses_bounce(verps["reader0@example.org"]))
    message["Message"] = json.dumps(ses_bounce(verps[READER]))  # changed after signing
    response = post(client, SES_URL, message)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "bad_signature"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = post(client, SES_URL, sns(cert_server, other, ses_bounce(verps[READER])))
    assert response.status_code == 403
    assert event_count(app) == 0 and suppression(app, READER) is None


def test_ses_unknown_topic_is_403_before_any_fetch(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    cert_server.requests.clear()
    topic = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    message = sns(cert_server, signing_key, ses_bounce(verps[READER]), topic=topic)
    response = post(client, SES_URL, message)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "unknown_topic"
    assert cert_server.requests == [] and event_count(app) == 0


def test_ses_certificate_from_a_disallowed_host_is_refused(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    cert_server.requests.clear()
    elsewhere = cert_server.base.replace("127.0.0.1", "localhost") + "/cert.pem"
    tricky = cert_server.base.replace("http://", "http://127.0.0.1@localhost.") + "/cert.pem"
    for url in (elsewhere, tricky):
        message = sns(cert_server, signing_key, ses_bounce(verps[READER]), cert_url=url)
        response = post(client, SES_URL, message)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "certificate_host_refused"
    app.config["SES_SNS_CERT_ALLOW_HTTP"] = False  # production: https only
    response = post(client, SES_URL, sns(cert_server, signing_key, ses_bounce(verps[READER])))
    assert response.status_code == 403
    assert cert_server.requests == [] and event_count(app) == 0


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("sns.us-east-1.amazonaws.com", True),
        ("sns.eu-west-1.amazonaws.com", True),
        ("sns.ap-southeast-2.amazonaws.com", True),
        ("sns.us-gov-west-1.amazonaws.com", True),
        ("sns.cn-north-1.amazonaws.com.cn", True),
        ("sns.s3.amazonaws.com", False),  # an S3 bucket named "sns" (the audit's probe)
        ("sns.s3-us-west-2.amazonaws.com", False),
        ("sns.s3.us-west-2.amazonaws.com", False),
        ("sns.amazonaws.com.evil.example", False),
        ("sns.us-east-1.amazonaws.com.evil.example", False),
        ("xsns.us-east-1.amazonaws.com", False),
        ("sns.us-east-1a.amazonaws.com", False),
    ],
)
def test_the_default_certificate_host_pattern_pins_regional_sns_hosts(
    app: Flask, host: str, allowed: bool
) -> None:
    from mailer import config
    from mailer.bounces.sns import is_aws_url

    app.config["SES_SNS_CERT_HOST_PATTERN"] = config.SES_SNS_CERT_HOST_PATTERN
    app.config["SES_SNS_CERT_ALLOW_HTTP"] = False
    with app.app_context():
        assert is_aws_url(f"https://{host}/SimpleNotificationService-abc.pem") is allowed


def test_ses_certificate_that_does_not_name_sns_is_refused(
    app: Flask, client: FlaskClient, signing_key: rsa.RSAPrivateKey
) -> None:
    """Signed with the right key, but the certificate names someone else."""
    verps = sent_digest(app)
    other = CertServer(certificate(signing_key, "attacker.example"))
    other.thread.start()
    try:
        response = post(client, SES_URL, sns(other, signing_key, ses_bounce(verps[READER])))
    finally:
        other.server.shutdown()
        other.server.server_close()
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "bad_certificate"
    assert event_count(app) == 0 and suppression(app, READER) is None


def test_ses_duplicate_message_id_is_recorded_once(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    verps = sent_digest(app)
    event = ses_bounce(verps[READER], "Transient", "4.2.2")
    message = sns(cert_server, signing_key, event, message_id="same-sns-id")
    cert_server.requests.clear()
    answers = [post(client, SES_URL, message).get_json() for _ in range(3)]
    assert answers == [{"status": "recorded"}] + [{"status": "duplicate"}] * 2
    assert event_count(app) == 1 and suppression(app, READER) is None
    assert cert_server.requests.count("/cert.pem") <= 1  # cached in-process by URL


def test_ses_subscription_confirmation_gets_subscribe_url(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    def confirmation(topic: str) -> dict[str, str]:
        url = f"{cert_server.base}/confirm?Action=ConfirmSubscription&Token=tok{len(topic)}"
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": f"tok{len(topic)}",
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": url,
            "Timestamp": "2026-11-25T12:00:00.000Z",
            "SigningCertURL": f"{cert_server.base}/cert.pem",
        }
        return sign(message, signing_key)

    cert_server.requests.clear()
    response = post(client, SES_URL, confirmation(TOPIC))
    assert response.status_code == 200 and response.get_json() == {"status": "confirmed"}
    confirms = [p for p in cert_server.requests if p.startswith("/confirm")]
    assert confirms == [f"/confirm?Action=ConfirmSubscription&Token=tok{len(TOPIC)}"]
    other = "arn:aws:sns:eu-west-1:999999999999:other"
    assert post(client, SES_URL, confirmation(other)).status_code == 403
    assert [p for p in cert_server.requests if p.startswith("/confirm")] == confirms
    assert event_count(app) == 0


def test_ses_malformed_json_is_400(
    app: Flask, client: FlaskClient, cert_server: CertServer, signing_key: rsa.RSAPrivateKey
) -> None:
    response = client.post(SES_URL, data=b"{not json", content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed"
    assert post(client, SES_URL, {"Type": "Notification"}).status_code == 400
    message = sns(cert_server, signing_key, {})
    message = sign({**message, "Message": "{not json"}, signing_key)
    assert post(client, SES_URL, message).status_code == 400
    assert event_count(app) == 0


# --- Mailgun -----------------------------------------------------------------------------------


def mailgun(
    event_data: dict[str, Any], *, key: str = MAILGUN_KEY, at: float | None = None
) -> dict[str, Any]:
    timestamp = str(int(time.time() if at is None else at))
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()},
        "event-data": event_data,
    }


def mailgun_failed(verp: str, severity: str = "permanent") -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "event": "failed",
        "severity": severity,
        "reason": "bounce",
        "recipient": READER,
        "envelope": {"sender": verp, "targets": READER, "transport": "smtp"},
        "delivery-status": {
            "code": 550,
            "enhanced-code": "5.1.1" if severity == "permanent" else "4.2.2",
            "message": f"The email account <{READER}> does not exist",
            "description": "",
        },
        "message": {"headers": {"to": READER, "message-id": "x@example.org", "subject": "Hi"}},
    }


def test_mailgun_valid_events_apply_the_policy(app: Flask, client: FlaskClient) -> None:
    verps = sent_digest(app)
    response = client.post(MAILGUN_URL, json=mailgun(mailgun_failed(verps[READER])))
    assert response.status_code == 200 and response.get_json() == {"status": "recorded"}
    assert suppression(app, READER) == SuppressionReason.hard_bounce
    other = "reader2@example.org"
    soft = mailgun_failed(verps[other], "temporary")
    assert client.post(MAILGUN_URL, json=mailgun(soft)).status_code == 200
    assert suppression(app, other) is None
    complaint = {
        "id": uuid.uuid4().hex,
        "event": "complained",
        "envelope": {"sender": verps[other]},
    }
    assert client.post(MAILGUN_URL, json=mailgun(complaint)).status_code == 200
    assert suppression(app, other) == SuppressionReason.complaint
    kinds = [(e.kind, e.status, e.attributed) for e in events(app)]
    assert kinds == [
        (BounceKind.hard, "5.1.1", True),
        (BounceKind.soft, "4.2.2", True),
        (BounceKind.complaint, None, True),
    ]
    assert all(READER not in (e.diagnostic or "") for e in events(app))


def test_mailgun_invalid_signature_is_403(app: Flask, client: FlaskClient) -> None:
    verps = sent_digest(app)
    body = mailgun(mailgun_failed(verps[READER]), key="not-the-key")
    response = client.post(MAILGUN_URL, json=body)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "bad_signature"
    unsigned = {"event-data": mailgun_failed(verps[READER])}
    assert client.post(MAILGUN_URL, json=unsigned).status_code == 403
    assert event_count(app) == 0 and suppression(app, READER) is None


def test_mailgun_replayed_token_is_403(app: Flask, client: FlaskClient) -> None:
    verps = sent_digest(app)
    body = mailgun(mailgun_failed(verps[READER], "temporary"))
    assert client.post(MAILGUN_URL, json=body).status_code == 200
    body["event-data"]["id"] = uuid.uuid4().hex  # even as a "new" event, the token is spent
    response = client.post(MAILGUN_URL, json=body)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "replayed"
    assert event_count(app) == 1


def test_mailgun_old_timestamp_is_403(app: Flask, client: FlaskClient) -> None:
    verps = sent_digest(app)
    body = mailgun(mailgun_failed(verps[READER]), at=time.time() - 6 * 60)
    response = client.post(MAILGUN_URL, json=body)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "stale_timestamp"
    assert event_count(app) == 0 and suppression(app, READER) is None
