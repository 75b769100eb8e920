"""Amazon SNS message signatures: signed fields, the signing certificate and its host.

The certificate comes over https from a regional SNS host only (SES_SNS_CERT_HOST_PATTERN,
not an S3 bucket named "sns"), without redirects, and must name SNS (SES_SNS_CERT_SUBJECTS)
(audit L6).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, build_opener

from flask import current_app

from mailer.models import utcnow

if TYPE_CHECKING:
    from cryptography import x509

logger = logging.getLogger(__name__)

MAX_FETCH = 64 * 1024  # a signing certificate or a confirmation answer
# The fields of each SNS message type that its signature covers, in this order
# (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token")
SNS_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (*_CONFIRMATION_FIELDS, "TopicArn", "Type"),
    "UnsubscribeConfirmation": (*_CONFIRMATION_FIELDS, "TopicArn", "Type"),
}
_SNS_HASHES = {"1": "SHA1", "2": "SHA256"}  # SignatureVersion -> cryptography's hash
_certificates: dict[str, x509.Certificate] = {}
_certificates_lock = threading.Lock()


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could leave the allowed host: fail instead


def fetch(url: str, timeout: float) -> bytes:
    """GET a URL without following redirects; refuse answers over MAX_FETCH bytes."""
    with build_opener(_NoRedirect).open(url, timeout=timeout) as response:
        body: bytes = response.read(MAX_FETCH + 1)
    if len(body) > MAX_FETCH:
        raise ValueError("answer too large")
    return body


def is_sns_message(message: Any) -> bool:
    if not isinstance(message, dict) or message.get("Type") not in SNS_SIGNED_FIELDS:
        return False
    required = [n for n in SNS_SIGNED_FIELDS[message["Type"]] if n != "Subject"]
    names = [*required, "Signature", "SignatureVersion", "SigningCertURL"]
    return all(isinstance(message.get(name), str) for name in names)


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical text an SNS signature covers: "name\\nvalue\\n" for each signed field."""
    fields = SNS_SIGNED_FIELDS[message["Type"]]
    return "".join(f"{n}\n{message[n]}\n" for n in fields if message.get(n) is not None).encode()


def verify_sns(message: dict[str, Any]) -> str | None:
    """None when AWS signed the message for an allowed topic, else the reason it is refused."""
    if message["TopicArn"] not in current_app.config["SES_SNS_TOPIC_ARNS"]:
        return "unknown_topic"
    url = message["SigningCertURL"]
    if not is_aws_url(url):
        return "certificate_host_refused"
    hash_name = _SNS_HASHES.get(message["SignatureVersion"])
    if hash_name is None:
        return "bad_signature"
    # OpenSSL's bindings load in ~80 ms: paid by SNS webhooks, not by every process's start.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm = getattr(hashes, hash_name)
    try:
        certificate = _certificate(url)
    except (OSError, ValueError) as exc:
        logger.warning("SNS signing certificate %s: %s", url, exc)
        return "certificate_unavailable"
    key = certificate.public_key()
    now = utcnow()
    if not isinstance(key, rsa.RSAPublicKey) or not (
        certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    ):
        return "bad_certificate"
    if not _sns_subject(certificate, urlsplit(url).hostname or ""):
        return "bad_certificate"
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
        key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        return "bad_signature"
    return None


def is_aws_url(url: str) -> bool:
    """An https URL (http only where tests allow it) on a host of SES_SNS_CERT_HOST_PATTERN."""
    cfg = current_app.config
    parts = urlsplit(url)
    schemes = ("https", "http") if cfg["SES_SNS_CERT_ALLOW_HTTP"] else ("https",)
    host = parts.hostname or ""
    return parts.scheme in schemes and bool(re.fullmatch(cfg["SES_SNS_CERT_HOST_PATTERN"], host))


def _sns_subject(certificate: x509.Certificate, host: str) -> bool:
    """Whether the certificate names SNS (SES_SNS_CERT_SUBJECTS) or the regional host."""
    from cryptography import x509

    names = {
        str(a.value).lower()
        for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    }
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.update(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    wanted = {n.lower() for n in current_app.config["SES_SNS_CERT_SUBJECTS"]} | {host.lower()}
    return bool(names & wanted)


def _certificate(url: str) -> x509.Certificate:
    with _certificates_lock:
        cached = _certificates.get(url)
    if cached is not None:
        return cached
    from cryptography import x509  # ~20 ms of imports, paid by SNS webhooks only (issue 13)

    pem = fetch(url, float(current_app.config["SES_SNS_TIMEOUT"]))
    certificate = x509.load_pem_x509_certificate(pem)
    with _certificates_lock:
        if len(_certificates) >= 64:
            _certificates.clear()
        _certificates[url] = certificate
    return certificate
