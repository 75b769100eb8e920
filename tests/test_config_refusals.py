"""Settings a newcomer found accepted, then failing late or misbehaving: refused at start.

Each refusal is one line, "Error: " and the setting's name, exit status 2, no traceback
(the helpers are test_config_check's).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer import config, create_app
from mailer.config_check import ConfigError
from tests.conftest import dispose
from tests.test_config_check import assert_one_line_error, operator_env, run_mailer
from tests.test_dkim import rsa_key

REFUSED = [
    # ProxyFix(x_for=-1): a 500 on one X-Forwarded-For value, a client-chosen address otherwise.
    ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES"),
    # A 12-frame traceback from the `limits` package; Celery and redis-py refuse them too.
    ("REDIS_URL", "notaurl", "REDIS_URL"),
    ("REDIS_URL", "redis//127.0.0.1", "REDIS_URL"),
    ("REDIS_URL", "unix:///run/redis.sock", "REDIS_URL"),  # redis-py's, not limits' or Celery's
    ("REDIS_URL", "memory://", "REDIS_URL"),
    ("REDIS_URL", "redis://:pw@127.0.0.1:port/0", "REDIS_URL"),
    # re.error in the SES webhook, at the first notification.
    ("SES_SNS_CERT_HOST_PATTERN", "(", "SES_SNS_CERT_HOST_PATTERN"),
    ("DATABASE_POOL_SIZE", "-5", "DATABASE_POOL_SIZE"),
    ("SEND_RATE", "-1", "SEND_RATE"),
    ("SEND_RATE", "nan", "SEND_RATE"),
    ("SMTP_TIMEOUT", "0", "SMTP_TIMEOUT"),  # a non-blocking socket: every connection fails
    ("SMTP_TIMEOUT", "inf", "SMTP_TIMEOUT"),
    # Stored with every consent record: blank says nothing, and the column holds 32 characters.
    ("CONSENT_VERSION", "", "CONSENT_VERSION"),
    ("CONSENT_VERSION", "  ", "CONSENT_VERSION"),
    ("CONSENT_VERSION", "v" * 33, "CONSENT_VERSION"),
    ("CONSENT_VERSION", "external", "CONSENT_VERSION"),  # the mark of imported consent
    # Read as production: "SECRET_KEY is not set" sent the operator the wrong way.
    ("MAILER_ENV", "dev", "MAILER_ENV='dev' is neither production nor development"),
    ("MAILER_ENV", "Development", "use MAILER_ENV=production (the default) or MAILER_ENV=dev"),
    # Every link in mail is built from it: plain http to readers, or links that go nowhere.
    ("BASE_URL", "http://news.example.org", "BASE_URL='http://news.example.org'"),
    ("BASE_URL", "news.example.org", "BASE_URL"),
    ("BASE_URL", "https://news.example.org/?utm_source=mail", "BASE_URL"),
    ("BASE_URL", "https://editor:pw@news.example.org", "BASE_URL"),  # never echoed
    # Failed at the first mail, or two From addresses.
    ("MAIL_FROM", "Weekly <news@example.org>\nBcc: all@example.net", "MAIL_FROM"),
    ("MAIL_FROM", "news@example.org, other@example.org", "MAIL_FROM"),
    # Went as written into the sign-up form's Content-Security-Policy.
    ("EMBED_FRAME_ANCESTORS", "https://a.example; script-src *", "EMBED_FRAME_ANCESTORS"),
    ("EMBED_FRAME_ANCESTORS", "https://a.example\nX-Injected: 1", "EMBED_FRAME_ANCESTORS"),
    # 32 bytes that anyone can guess.
    ("SECRET_KEY", "a" * 48, "SECRET_KEY"),
    ("ADDRESS_HASH_KEY", "hex:" + "ab" * 32, "ADDRESS_HASH_KEY"),
]


@pytest.mark.parametrize(("key", "value", "named"), REFUSED)
def test_a_newcomers_bad_setting_is_refused_in_one_line(key: str, value: str, named: str) -> None:
    assert_one_line_error(run_mailer("keys", "address-hash-key", **{key: value}), named)


def test_no_proxy_is_zero_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, setting in operator_env(TRUSTED_PROXIES="0").items():
        monkeypatch.setenv(name, setting)
    app = create_app()
    assert app.config["TRUSTED_PROXIES"] == 0
    dispose(app)


def bounded_settings() -> dict[str, tuple[str, int]]:
    """The number settings with their least value: {key: (">=" or ">", least)}."""
    found = {}
    for key, kind in config.ENV_SETTINGS.items():
        match = re.fullmatch(r"(?:int|float)(>=?)(\d+)", kind)
        if match:
            found[key] = (match[1], int(match[2]))
    return found


def test_every_number_setting_has_a_least_value() -> None:
    numbers = [key for key, kind in config.ENV_SETTINGS.items() if kind.startswith(("int", "f"))]
    assert sorted(numbers) == sorted(bounded_settings())


@pytest.mark.parametrize("key", sorted(bounded_settings()))
def test_a_number_below_its_least_value_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    op, least = bounded_settings()[key]
    below = least - 1 if op == ">=" else least
    for name, setting in operator_env(**{key: str(below)}).items():
        monkeypatch.setenv(name, setting)
    with pytest.raises(ConfigError, match=f"^{key}={below}(\\.0)? is out of range"):
        create_app()


def test_every_number_setting_at_its_least_value_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    least = {key: str(n if op == ">=" else n + 0.5) for key, (op, n) in bounded_settings().items()}
    for name, setting in operator_env(**least).items():
        monkeypatch.setenv(name, setting)
    app = create_app()
    assert app.config["TRUSTED_PROXIES"] == 0 and app.config["SEND_RATE"] == 0
    dispose(app)


DKIM_ON = {"DKIM_SELECTOR": "mail2026", "DKIM_DOMAIN": "example.org"}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        # Accepted, then every send in the worker failed on the missing file.
        ({**DKIM_ON, "DKIM_PRIVATE_KEY_PATH": "/nope"}, "DKIM_PRIVATE_KEY_PATH='/nope' cannot"),
        ({**DKIM_ON, "DKIM_PRIVATE_KEY_PATH": "/"}, "DKIM_PRIVATE_KEY_PATH='/' cannot be read"),
        ({**DKIM_ON, "DKIM_PRIVATE_KEY_PATH": "{garbage}"}, "DKIM_PRIVATE_KEY_PATH="),
        ({**DKIM_ON, "DKIM_PRIVATE_KEY_PATH": "{truncated}"}, "DKIM_PRIVATE_KEY_PATH="),
        # Some of the three set: mail went out unsigned, silently.
        ({"DKIM_PRIVATE_KEY_PATH": "{key}"}, "DKIM_SELECTOR and DKIM_DOMAIN are not"),
        ({**DKIM_ON}, "DKIM_PRIVATE_KEY_PATH is not"),
        ({"DKIM_DOMAIN": "example.org", "DKIM_PRIVATE_KEY_PATH": "{key}"}, "DKIM_SELECTOR is not"),
    ],
)
def test_a_dkim_setting_that_cannot_sign_is_refused_at_start(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    files = {
        "key": rsa_key(1024)[0],
        "garbage": b"not a key",
        "truncated": b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    }
    for name, content in files.items():
        (tmp_path / f"{name}.pem").write_bytes(content)
    paths = {name: str(tmp_path / f"{name}.pem") for name in files}
    given = {key: value.format(**paths) for key, value in settings.items()}
    assert_one_line_error(run_mailer("keys", "address-hash-key", **given), named)


def test_a_dkim_key_that_signs_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(rsa_key(1024)[0])
    for name, setting in operator_env(**DKIM_ON, DKIM_PRIVATE_KEY_PATH=str(key_file)).items():
        monkeypatch.setenv(name, setting)
    app = create_app()
    assert app.config["DKIM_PRIVATE_KEY_PATH"] == str(key_file)
    dispose(app)


def test_a_missing_secret_key_points_a_developer_to_mailer_env() -> None:
    """After `make run`, `mailer lists list` without MAILER_ENV asked for a SECRET_KEY; one
    put in .env made commands run in production mode against the development database."""
    done = run_mailer("lists", "list", SECRET_KEY="")
    assert_one_line_error(done, "SECRET_KEY is not set")
    assert (
        "For the development setup of `make run`, prefix commands with MAILER_ENV=development."
        in done.stderr
    )
