"""DKIM signatures (RFC 6376) with dkimpy: relaxed/relaxed, rsa-sha256 or ed25519-sha256.

Cost: dkimpy computes RSA in pure Python, about 7 ms per message with a 2048-bit key, which
would cap a worker at ~140 messages/s. This module hands dkimpy's RSA step to OpenSSL (the
`cryptography` package; PKCS#1 v1.5 signatures are deterministic, so the bytes are the same),
parses the key once and canonicalizes the body "simple": a signature of a 40 KB digest then
costs about 0.6 ms (1.3 ms with a relaxed body); ed25519 (PyNaCl) costs about the same.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# List-Unsubscribe and List-Unsubscribe-Post must be covered for RFC 8058 one-click. Each
# name is listed twice so that a copy added above the signed one, or a header added where
# there was none, breaks the signature (RFC 6376 section 8.15, "oversigning").
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
    "Cc",
)
_INCLUDE = tuple(name.lower().encode() for name in SIGNED_HEADERS) * 2
# Headers relaxed, body simple (as Amazon SES signs): relaxed body canonicalization is
# regular expressions over all 40 KB and was half the cost of a signature; our bodies are
# quoted-printable with CRLF line ends and no trailing blanks, the same under either.
_CANONICALIZE = (b"relaxed", b"simple")
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\n(.+?)\n-----END \1-----", re.DOTALL)
# PKCS#8 wrapping of an Ed25519 key (RFC 8410): this prefix, then the 32-byte seed.
_ED25519_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")


_rsa_keys: dict[int, rsa.RSAPrivateKey] = {}


def _openssl_rsa_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's RSASSA_PKCS1_v1_5_sign(hash, key dict), computed by OpenSSL."""
    # OpenSSL's bindings load in ~80 ms: at a worker's first signature, not at every start.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    key = _rsa_keys.get(private_key["modulus"])
    if key is None:
        public = rsa.RSAPublicNumbers(private_key["publicExponent"], private_key["modulus"])
        key = rsa.RSAPrivateNumbers(
            p=private_key["prime1"],
            q=private_key["prime2"],
            d=private_key["privateExponent"],
            dmp1=private_key["exponent1"],
            dmq1=private_key["exponent2"],
            iqmp=private_key["coefficient"],
            public_numbers=public,
        ).private_key()
        _rsa_keys[private_key["modulus"]] = key
    algorithm = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}[digest.name]()
    return key.sign(digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))


_dkimpy_own: dict[str, Any] = {}


@functools.cache
def _dkimpy() -> Any:
    """dkimpy, its RSA step handed to OpenSSL and its key parsing cached; imported at the
    first signature, not with this module: it loads dnspython's resolver, which every
    `mailer` command paid for at start (issue 13)."""
    import dkim

    _dkimpy_own["rsa_sign"] = dkim.RSASSA_PKCS1_v1_5_sign
    dkim.RSASSA_PKCS1_v1_5_sign = _openssl_rsa_sign  # dkim.sign looks it up in its module
    # dkim.sign parses the PEM key (ASN.1 in Python, ~0.1 ms) on every call: once per key here.
    dkim.parse_pem_private_key = functools.lru_cache(maxsize=8)(dkim.parse_pem_private_key)
    return dkim


def _pure_python_rsa_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's own RSA signature (tests compare it with the OpenSSL one)."""
    _dkimpy()
    return bytes(_dkimpy_own["rsa_sign"](digest, private_key))


class DkimKeyError(ValueError):
    """The DKIM private key cannot be read."""


def _load_key(private_key: bytes) -> tuple[bytes, bytes]:
    """The key as dkimpy takes it and its algorithm, from PEM (RSA or Ed25519) or a base64 seed."""
    text = private_key.replace(b"\r\n", b"\n").strip()
    pem = _PEM.fullmatch(text)
    if pem is not None:
        if b"ENCRYPTED" in pem.group(1):
            raise DkimKeyError("the DKIM private key must not be encrypted")
        try:
            der = base64.b64decode(pem.group(2))
        except binascii.Error as exc:
            raise DkimKeyError(f"the DKIM private key is not valid PEM: {exc}") from None
        if len(der) == 48 and der.startswith(_ED25519_PKCS8):
            return base64.b64encode(der[16:]), b"ed25519-sha256"
        return text + b"\n", b"rsa-sha256"
    try:
        seed = base64.b64decode(text, validate=True)  # dkimpy's own ed25519 key format
    except binascii.Error:
        seed = b""
    if len(seed) != 32:
        raise DkimKeyError("the DKIM private key must be PEM (RSA or Ed25519) or an ed25519 seed")
    return text, b"ed25519-sha256"


def check_key(private_key: bytes) -> None:
    """Raise DkimKeyError unless the key can be read: PEM (RSA or Ed25519, not encrypted)
    that OpenSSL parses, or an Ed25519 seed. For the check at every process's start: it
    neither imports dkimpy (~0.2 s, with dnspython) nor signs; from_key does both."""
    key, algorithm = _load_key(private_key)
    if algorithm != b"rsa-sha256":
        return  # an Ed25519 seed of the right length: nothing more to parse
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        loaded = load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimKeyError(f"the DKIM private key cannot be read: {exc}") from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise DkimKeyError("the DKIM private key must be RSA or Ed25519")


@dataclass(frozen=True)
class DkimSigner:
    """Signs messages for one selector and domain with a key read once."""

    selector: str
    domain: str
    private_key: bytes = field(repr=False)  # in dkimpy's format
    algorithm: bytes

    @classmethod
    def from_key(cls, private_key: bytes, selector: str, domain: str) -> DkimSigner:
        """A signer for this key; raises DkimKeyError now rather than on the first message."""
        key, algorithm = _load_key(private_key)
        signer = cls(selector, domain, key, algorithm)
        try:
            signer.sign(b"From: check@" + domain.encode() + b"\r\n\r\n")
        except _dkimpy().DKIMException as exc:
            raise DkimKeyError(f"the DKIM private key cannot sign: {exc}") from None
        return signer

    @classmethod
    def from_file(cls, path: str | Path, selector: str, domain: str) -> DkimSigner:
        """A signer for the key in this file (DKIM_PRIVATE_KEY_PATH)."""
        return cls.from_key(Path(path).read_bytes(), selector, domain)

    def sign(self, raw: bytes) -> bytes:
        """The message with a DKIM-Signature header prepended."""
        header = _dkimpy().sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key,
            canonicalize=_CANONICALIZE,
            signature_algorithm=self.algorithm,
            include_headers=list(_INCLUDE),
        )
        return header + raw


_signers: dict[tuple[str, str, str], DkimSigner] = {}


def configured_signer() -> DkimSigner | None:
    """The DKIM signer of the DKIM_* settings, loaded once per process; None when unset.

    Every mail that leaves is signed with it: digests, test sends and one-to-one mail.
    """
    cfg = current_app.config
    selector, domain, path = cfg["DKIM_SELECTOR"], cfg["DKIM_DOMAIN"], cfg["DKIM_PRIVATE_KEY_PATH"]
    if not (selector and domain and path):
        return None
    key = (selector, domain, path)
    if key not in _signers:
        _signers[key] = DkimSigner.from_file(path, selector, domain)
    return _signers[key]


def sign(raw: bytes, *, selector: str, domain: str, private_key: bytes) -> bytes:
    """The message with a DKIM-Signature header prepended (reads the key on each call)."""
    key, algorithm = _load_key(private_key)
    return DkimSigner(selector, domain, key, algorithm).sign(raw)
