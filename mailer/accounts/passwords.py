"""The password policy: long enough, and not on the bundled list of common passwords.

common-passwords.txt.gz is the list Django ships (19,640 passwords seen most often in
breaches, from Royce Williams' compilation; BSD licence in common-passwords.LICENSE). It is
read from the package, once per process: no network call, nothing leaves the machine.

Besides an exact match (case ignored), a password is refused when it is a listed one with
only digits and punctuation around it ("Password2026!", "!!iloveyou99"): that is how
people stretch a common password to a length rule, and how crackers' rules undo it.
"""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mailer.accounts import gate

MIN_LENGTH = 12
MAX_LENGTH = 1000
_PADDING = re.compile(r"^[\d\W_]*(.*?)[\d\W_]*$", re.DOTALL)
MIN_CORE = 4  # "pass" + "1234567890!!" is refused; shorter cores are not words


class PasswordRefused(ValueError):
    """The password does not meet the policy; the message says why, for the form or CLI."""


@functools.cache
def common_passwords() -> frozenset[str]:
    data = resources.files("mailer.accounts").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().lower().split())


def is_common(password: str) -> bool:
    lowered = password.strip().lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    match = _PADDING.match(lowered)
    core = match.group(1) if match else lowered
    return len(core) >= MIN_CORE and core in listed


def check(password: str) -> None:
    """Raise PasswordRefused unless the password is fit for an editor of subscribers' data."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"Use at most {MAX_LENGTH} characters.")
    if is_common(password):
        raise PasswordRefused(
            "This password is on a list of common, breached passwords: attackers try those"
            " first. Choose another (a few unrelated words make a strong one)."
        )


# The one argon2 hasher of editors' passwords: invitations, the Account page, create-editor
# and sign-in (mailer.admin.auth, which rehashes older hashes to its parameters) all use it.
# argon2-cffi's defaults, RFC 9106's low-memory choice: argon2id, 64 MiB, 3 passes, 4 lanes.
HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """Check the policy, then hash with HASHER."""
    check(password)
    return HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    with gate.password_check():
        try:
            return HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
