"""One argon2 hasher for editors' passwords, mailer.accounts.passwords.HASHER: create-editor,
invitations, the Account page and sign-in hash and check with the same one, so a change of
its parameters reaches them all at once and sign-in rehashes older hashes to it.

Before, mailer/admin/auth.py and mailer/accounts/passwords.py each built their own
PasswordHasher: equal by chance (both the defaults), and a change to one would have left
sign-in rehashing every editor's password back and forth between the two.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from flask import Flask

import mailer
from mailer.accounts import passwords
from mailer.admin import auth
from mailer.extensions import db
from tests.accounts_helpers import PASSWORD

CHEAP = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
CHEAP_PARAMETERS = extract_parameters(CHEAP.hash("x"))


def test_the_package_builds_one_hasher() -> None:
    root = Path(mailer.__file__).parent
    built = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if "PasswordHasher(" in path.read_text()
    )
    assert built == ["accounts/passwords.py"]


def test_its_parameters_are_the_ones_editors_hashes_were_made_with() -> None:
    """argon2-cffi's defaults (RFC 9106's low-memory choice): argon2id, 64 MiB, 3 passes."""
    made = extract_parameters(passwords.HASHER.hash("x"))
    assert (made.type, made.memory_cost, made.time_cost, made.parallelism) == (
        Type.ID,
        65536,
        3,
        4,
    )
    assert not passwords.HASHER.check_needs_rehash(PasswordHasher().hash("x"))


def test_every_path_hashes_and_checks_with_the_one_hasher(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "HASHER", CHEAP)
    with app.app_context():
        editor = auth.create_editor("ed@example.org", PASSWORD)  # `mailer create-editor`
        assert extract_parameters(editor.password_hash) == CHEAP_PARAMETERS
        invited = passwords.hash_password("seven otters under a bridge")  # invitations, Account
        assert extract_parameters(invited) == CHEAP_PARAMETERS
        assert auth.check_password(editor, PASSWORD)  # sign-in
        assert passwords.verify(invited, "seven otters under a bridge")

        editor.password_hash = PasswordHasher().hash(PASSWORD)  # made before a change
        db.session.flush()
        assert auth.check_password(editor, PASSWORD)
        assert extract_parameters(editor.password_hash) == CHEAP_PARAMETERS  # rehashed once
        assert not auth.check_password(editor, "not the password at all")
