"""Keys of 32 bytes that hold next to nothing are refused in production: SECRET_KEY="aaaa…",
a short pattern repeated, a run such as abcd… or 0123…, or a key of a very few characters.

Before, only the length was checked: `SECRET_KEY=` 48 times "s" signed every session and
every link in mail, and anyone could guess it. Random keys from the README's recipes (and
shorter random ones, hex of 16 bytes) must always pass.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from mailer.keys import KeyConfigError, check_keys, derive
from tests.test_config_check import assert_one_line_error, run_mailer

GOOD = secrets.token_urlsafe(48)

WEAK = [
    "a" * 48,
    "s" * 48,
    "abc" * 16,
    "abcd1234" * 6,
    "0123456789abcdef" * 3,
    "abcdefghijklmnopqrstuvwxyz0123456789",  # a run
    "zyxwvutsrqponmlkjihgfedcba9876543210",
    "0" * 63 + "1",
    "1111111122222222333333334444444455555555",
    "changeme" * 4,
    "é" * 32,
]


def production(**settings: Any) -> dict[str, Any]:
    return {"MAILER_ENV": "production", "SECRET_KEY": GOOD, **settings}


@pytest.mark.parametrize("weak", WEAK)
def test_a_low_entropy_secret_key_is_refused_with_the_recipe(weak: str) -> None:
    with pytest.raises(KeyConfigError, match="^SECRET_KEY") as caught:
        check_keys(production(SECRET_KEY=weak))
    message = str(caught.value)
    assert "python -c 'import secrets; print(secrets.token_urlsafe(48))'" in message
    assert weak not in message  # a key is never echoed


@pytest.mark.parametrize("weak", WEAK[:3])
def test_a_low_entropy_fallback_is_refused(weak: str) -> None:
    old = secrets.token_urlsafe(48)
    cfg = production(
        SECRET_KEY_FALLBACKS=[old, weak], ADDRESS_HASH_KEY="hex:" + secrets.token_hex(32)
    )
    with pytest.raises(KeyConfigError, match="^SECRET_KEY_FALLBACKS: key number 2"):
        check_keys(cfg)


@pytest.mark.parametrize(
    "weak", ["hex:" + "ab" * 32, "hex:" + "0" * 64, "hex:" + "00112233" * 8, "k" * 32, "AB" * 24]
)
def test_a_low_entropy_address_hash_key_is_refused(weak: str) -> None:
    with pytest.raises(KeyConfigError, match="^ADDRESS_HASH_KEY") as caught:
        check_keys(production(ADDRESS_HASH_KEY=weak))
    message = str(caught.value)
    assert """python -c 'import secrets; print("hex:" + secrets.token_hex(32))'""" in message
    assert "suppression list" in message


RECIPES = {
    "README's SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "README's ADDRESS_HASH_KEY": lambda: "hex:" + secrets.token_hex(32),
    "hex of 16 bytes": lambda: secrets.token_hex(16),
    "urlsafe of 24 bytes": lambda: secrets.token_urlsafe(24),
    "a UUID": lambda: str(uuid.uuid4()),
    "32 decimal digits": lambda: "".join(secrets.choice("0123456789") for _ in range(32)),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_random_keys_always_pass(recipe: str) -> None:
    for _ in range(500):
        key = RECIPES[recipe]()
        fallback = RECIPES[recipe]()
        hash_key = key if key.startswith("hex:") else "hex:" + secrets.token_hex(32)
        check_keys(
            production(
                SECRET_KEY=key.removeprefix("hex:"),
                SECRET_KEY_FALLBACKS=[fallback],
                ADDRESS_HASH_KEY=hash_key,
            )
        )


def test_development_keeps_any_key() -> None:
    check_keys({"MAILER_ENV": "development", "SECRET_KEY": "a" * 48})


def test_a_weak_key_on_the_command_line_is_one_line_naming_it() -> None:
    assert_one_line_error(run_mailer("keys", "address-hash-key", SECRET_KEY="a" * 48), "SECRET_KEY")


def test_the_refusal_says_how_to_keep_the_suppression_list_and_that_works() -> None:
    """Replacing a weak key in use: the hash key it derives must be pinned first, with the
    command the message gives (a production start with that key is refused)."""
    weak = "abcd1234" * 6
    done = run_mailer("keys", "address-hash-key", SECRET_KEY=weak)
    assert done.returncode == 2
    advice = "MAILER_ENV=development BASE_URL=http://127.0.0.1:5000 mailer keys address-hash-key"
    assert advice in done.stderr
    pinned = run_mailer(
        "keys",
        "address-hash-key",
        SECRET_KEY=weak,
        MAILER_ENV="development",
        BASE_URL="http://127.0.0.1:5000",
    )
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.strip() == "hex:" + derive(weak, "address-hash").hex()
