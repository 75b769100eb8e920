"""DKIM: sign a rendered digest message, verify it with dkimpy against a key given without DNS."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailer.delivery.dkim import DkimKeyError, DkimSigner, sign
from mailer.delivery.template import MessageTemplate

SELECTOR, DOMAIN = "mail2025", "example.org"
MARKER = re.compile(r"%%mailer:(\w+)%%")
URL = "https://news.example.org/unsubscribe/" + "A1b2-_" * 20
TEXT = (
    "Hello %%mailer:name%%,\n\n"
    + "A line of the digest. " * 200
    + "\nUnsubscribe: %%mailer:url%%\n"
)
HTML = "<p>Hello %%mailer:name%%, ünïcode " + "x" * 3000 + '</p><a href="%%mailer:url%%">Leave</a>'
DnsFunc = Callable[..., bytes]


def message() -> bytes:
    template = MessageTemplate(
        subject="Semaine: liberté de la presse",
        sender="News <news@example.org>",
        text=TEXT,
        html=HTML,
        marker=MARKER,
        headers={
            "List-Id": "Weekly <weekly.example.org>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    return template.render(
        "reader@example.org",
        "<1.2.3@example.org>",
        {"name": "Zoë", "url": URL},
        {"List-Unsubscribe": f"<{URL}>"},
    )


def rsa_key(bits: int = 2048) -> tuple[bytes, DnsFunc]:
    """A PEM private key and a dnsfunc answering its selector's TXT record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, dns_record(b"rsa", der)


def ed25519_key() -> tuple[bytes, DnsFunc]:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem, dns_record(b"ed25519", raw)


def dns_record(kind: bytes, public: bytes) -> DnsFunc:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return b"v=DKIM1; k=" + kind + b"; p=" + base64.b64encode(public)

    return dnsfunc


def signature_tags(signed: bytes) -> dict[str, str]:
    head = signed.split(b"\r\n\r\n", 1)[0].decode()
    value = re.search(r"^DKIM-Signature:(.*?)\r\n(?=\S)", head, re.S | re.M)
    assert value is not None
    tags = (t.split("=", 1) for t in re.sub(r"\s+", "", value.group(1)).split(";") if t)
    return {k: v for k, v in tags}


@pytest.mark.parametrize("make_key", [rsa_key, ed25519_key], ids=["rsa", "ed25519"])
def test_signed_message_verifies_and_covers_the_list_headers(
    make_key: Callable[[], tuple[bytes, DnsFunc]],
) -> None:
    pem, dnsfunc = make_key()
    raw = message()
    signed = DkimSigner.from_key(pem, SELECTOR, DOMAIN).sign(raw)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(raw)
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    tags = signature_tags(signed)
    # Body "simple", as Amazon SES signs: half the cost of "relaxed" on a 40 KB digest, and
    # our bodies (quoted-printable, CRLF, no trailing blanks) are the same either way.
    assert tags["c"] == "relaxed/simple" and tags["d"] == DOMAIN and tags["s"] == SELECTOR
    assert tags["a"] == ("rsa-sha256" if make_key is rsa_key else "ed25519-sha256")
    signed_headers = tags["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe"):
        assert signed_headers.count(name) == 2  # oversigned: no copy can be added
    assert {"list-unsubscribe-post", "mime-version", "content-type"} <= set(signed_headers)


def test_tampering_breaks_the_signature() -> None:
    pem, dnsfunc = rsa_key()
    signed = sign(message(), selector=SELECTOR, domain=DOMAIN, private_key=pem)
    other = "https://evil.example.net/x"
    changed = signed.replace(f"<{URL}>".encode(), f"<{other}>".encode())
    assert changed != signed and not dkim.verify(changed, dnsfunc=dnsfunc)
    removed = signed.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"")
    assert removed != signed and not dkim.verify(removed, dnsfunc=dnsfunc)
    added = signed.replace(b"\r\nTo: ", f"\r\nList-Unsubscribe: <{other}>\r\nTo: ".encode(), 1)
    assert added != signed and not dkim.verify(added, dnsfunc=dnsfunc)
    body = signed.replace(b"A line of the digest.", b"A line of the digest!", 1)
    assert not dkim.verify(body, dnsfunc=dnsfunc)
    # relaxed headers: trailing blanks on the way do not break it; nor do empty lines that a
    # relay adds at the end of the body (simple body canonicalization drops them)
    assert dkim.verify(signed.replace(b"\r\n\r\n", b"  \r\n\r\n", 1), dnsfunc=dnsfunc)
    assert dkim.verify(signed + b"\r\n\r\n", dnsfunc=dnsfunc)


def test_key_file_and_bad_keys(tmp_path: Path) -> None:
    pem, dnsfunc = rsa_key()
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem.replace(b"\n", b"\r\n"))  # edited on Windows
    signer = DkimSigner.from_file(path, SELECTOR, DOMAIN)
    assert pem not in repr(signer).encode()
    assert dkim.verify(signer.sign(message()), dnsfunc=dnsfunc)
    with pytest.raises(DkimKeyError):
        DkimSigner.from_key(b"not a key", SELECTOR, DOMAIN)
    with pytest.raises(DkimKeyError):
        lines = pem.splitlines()
        DkimSigner.from_key(b"\n".join(lines[:3] + lines[-1:]), SELECTOR, DOMAIN)  # cut short


@pytest.mark.parametrize("make_key", [rsa_key, ed25519_key], ids=["rsa-2048", "ed25519"])
def test_signing_cost(make_key: Callable[[], tuple[bytes, DnsFunc]]) -> None:
    pem, dnsfunc = make_key()
    signer = DkimSigner.from_key(pem, SELECTOR, DOMAIN)
    raw = message()
    count = 300
    start = time.perf_counter()
    for _ in range(count):
        signed = signer.sign(raw)
    per_message = (time.perf_counter() - start) / count * 1e6
    print(f"\nDKIM {signer.algorithm.decode()}: {per_message:.0f} us per {len(raw)}-byte message")
    assert dkim.verify(signed, dnsfunc=dnsfunc)  # measured, not asserted: machines differ


def test_openssl_rsa_signatures_equal_dkimpys_own() -> None:
    """The OpenSSL shortcut gives byte-for-byte dkimpy's pure-Python signature."""
    import hashlib

    from dkim.crypto import parse_pem_private_key

    from mailer.delivery import dkim as ours

    pem, _ = rsa_key(1024)
    key = parse_pem_private_key(pem)
    digest = hashlib.sha256(b"a message")
    fast = ours._openssl_rsa_sign(digest.copy(), key)
    assert fast == ours._pure_python_rsa_sign(digest.copy(), key)
