"""Bad settings stop the start with one message naming the variable (issue 9, item 1).

Before: `RATELIMIT_ENABLED=enabled` read as off (no rate limits, no address caps), a bad
RATELIMIT_SIGNUP_IP disabled the per-IP limit, a bad RATELIMIT_SIGNUP_ADDRESS made every
sign-up 500, and a refused SMTP_URL or BOUNCE_IMAP_URL failed only in the worker.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mailer import create_app
from mailer.config_check import ConfigError
from mailer.dev.guard import DevelopmentExposed
from mailer.keys import KeyConfigError
from tests.conftest import dispose

MAILER = Path(sys.executable).with_name("mailer")
SECRET = secrets.token_urlsafe(48)
OWN = ("SECRET_KEY", "MAILER_DOTENV", "MAILER_ENV", "FLASK_APP", "FLASK_SKIP_DOTENV")


def operator_env(**settings: str) -> dict[str, str]:
    """A production environment with a good SECRET_KEY and no .env, plus `settings`."""
    clean = {k: v for k, v in os.environ.items() if k not in OWN and not k.startswith("RATELIMIT")}
    base = {"MAILER_ENV": "production", "MAILER_DOTENV": "/nonexistent", "SECRET_KEY": SECRET}
    return {**clean, **base, **settings}


def run_mailer(
    *args: str, cwd: Path | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAILER), *args],
        env=operator_env(**settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


BAD = [
    ("RATELIMIT_ENABLED", "enabled"),
    ("SIGNUP_CHALLENGE", "y"),
    ("DELIVERY_SYNC_COMMIT", "maybe"),
    ("SMTP_TIMEOUT", "abc"),
    ("TRUSTED_PROXIES", "yes"),
    ("RATELIMIT_SIGNUP_IP", "10 a minute"),
    ("RATELIMIT_SIGNUP_ADDRESS", "one per day"),
    ("RATELIMIT_TOKEN_PAGES", "lots"),
    ("SMTP_URL", "smtp://user:pw@mail.example.org:587?starttls=off"),
    ("SMTP_URL", "http://mail.example.org"),
    ("BOUNCE_IMAP_URL", "imap://user:pw@imap.example.org/INBOX?starttls=off"),
    ("BOUNCE_IMAP_URL", "imaps://user:pw@imap.example.org:port/INBOX"),
    ("TRUSTED_PROXIES", "-1"),
    ("REDIS_URL", "redis//127.0.0.1"),
    ("REDIS_URL", "rediss://:pw@127.0.0.1:port/0"),
    ("SES_SNS_CERT_HOST_PATTERN", "sns.[a-z"),
    ("CONSENT_VERSION", "  "),
]


def assert_one_line_error(done: subprocess.CompletedProcess[str], named: str) -> None:
    """Refused at start: exit status 2, stderr one line "Error: ..." naming the setting."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], lines
    assert "pw" not in done.stderr  # a URL's password is never echoed


@pytest.mark.parametrize(
    ("key", "value"), [BAD[0], BAD[1], BAD[3], BAD[4], BAD[5], BAD[6], BAD[8], BAD[10]]
)
def test_mailer_refuses_to_start_with_a_bad_setting(key: str, value: str) -> None:
    done = run_mailer("keys", "address-hash-key", **{key: value})
    assert done.returncode != 0 and done.stdout == ""
    assert key in done.stderr
    assert "pw" not in done.stderr  # a URL's password is never echoed


@pytest.mark.parametrize(("key", "value"), BAD)
def test_the_factory_raises_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    for name, setting in operator_env(**{key: value}).items():
        monkeypatch.setenv(name, setting)
    with pytest.raises(ConfigError, match=key) as refused:
        create_app()
    assert "pw" not in str(refused.value)


@pytest.mark.parametrize("value", ["on", "OFF", "True", "false", "YES", "no", "1", "0", " yes "])
def test_every_yes_no_spelling_is_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    for name, setting in operator_env(RATELIMIT_ENABLED=value).items():
        monkeypatch.setenv(name, setting)
    app = create_app()
    expected = value.strip().lower() in ("on", "true", "yes", "1")
    assert app.config["RATELIMIT_ENABLED"] is expected
    dispose(app)


def test_good_settings_from_the_environment_start(monkeypatch: pytest.MonkeyPatch) -> None:
    good = {
        "SMTP_TIMEOUT": "7.5",
        "TRUSTED_PROXIES": "1",
        "RATELIMIT_SIGNUP_IP": "5 per minute;50 per hour",
        "RATELIMIT_TOKEN_PAGES": "30/minute",
        "SMTP_URL": "smtp://a.example.org:587, smtps://user:pw@b.example.org",
        "BOUNCE_IMAP_URL": "imaps://user:pw@imap.example.org/INBOX",
        "REDIS_URL": "rediss://:pw@redis.example.org:6380/2",
    }
    for name, setting in operator_env(**good).items():
        monkeypatch.setenv(name, setting)
    app = create_app()
    assert app.config["SMTP_TIMEOUT"] == 7.5 and app.config["TRUSTED_PROXIES"] == 1
    dispose(app)


def test_key_and_development_refusals_are_config_errors() -> None:
    assert issubclass(KeyConfigError, ConfigError)
    assert issubclass(DevelopmentExposed, ConfigError)


def test_python_values_passed_to_the_factory_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, setting in operator_env().items():
        monkeypatch.setenv(name, setting)
    app = create_app({"RATELIMIT_ENABLED": False, "TRUSTED_PROXIES": 2, "SMTP_TIMEOUT": 5})
    assert app.config["RATELIMIT_ENABLED"] is False and app.config["TRUSTED_PROXIES"] == 2
    dispose(app)


@pytest.mark.parametrize(
    ("args", "settings", "named"),
    [
        (["keys", "address-hash-key"], {"SECRET_KEY": "short"}, "SECRET_KEY"),
        (["keys", "address-hash-key"], {"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        (["db", "upgrade"], {"RATELIMIT_ENABLED": "enabled"}, "RATELIMIT_ENABLED"),
        (["routes"], {"ADDRESS_HASH_KEY": "hex:zz"}, "ADDRESS_HASH_KEY"),
        (["lists", "show"], {"MAILER_ENV": "development", "BASE_URL": "https://x.org"}, "BASE_URL"),
    ],
)
def test_a_config_error_is_one_line_and_exit_status_2(
    args: list[str], settings: dict[str, str], named: str
) -> None:
    """Issue 9, item 2: not a 25-line traceback for a missing or short SECRET_KEY."""
    done = run_mailer(*args, **settings)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0]


PINNED = "hex:" + secrets.token_hex(32)


def test_mailer_ignores_a_dotenv_in_the_current_directory(tmp_path: Path) -> None:
    """Issue 9, item 3: only MAILER_DOTENV (or the project root's .env) is read.

    Flask's own loading read ./.env and ./.flaskenv first, so `mailer db upgrade` run from
    another directory could migrate a database the app does not serve.
    """
    (tmp_path / ".env").write_text(f"ADDRESS_HASH_KEY={PINNED}\n")
    (tmp_path / ".flaskenv").write_text(f"ADDRESS_HASH_KEY={PINNED}\n")
    done = run_mailer("keys", "address-hash-key", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != PINNED


def test_mailer_dotenv_is_still_read(tmp_path: Path) -> None:
    settings = tmp_path / "mailer.env"
    settings.write_text(f"ADDRESS_HASH_KEY={PINNED}\n")
    done = run_mailer("keys", "address-hash-key", cwd=tmp_path, MAILER_DOTENV=str(settings))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == PINNED


def test_flask_skip_dotenv_keeps_flask_from_reading_it(tmp_path: Path) -> None:
    """The README's advice for `flask --app wsgi`: FLASK_SKIP_DOTENV=1."""
    (tmp_path / ".env").write_text(f"ADDRESS_HASH_KEY={PINNED}\n")
    wsgi = Path(__file__).resolve().parent.parent / "wsgi.py"
    done = subprocess.run(
        [str(MAILER.with_name("flask")), "--app", str(wsgi), "keys", "address-hash-key"],
        env=operator_env(FLASK_SKIP_DOTENV="1"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != PINNED


def test_a_short_secret_key_on_a_first_install_is_not_told_to_pin_first() -> None:
    """Issue 9, item 5: pinning ADDRESS_HASH_KEY only matters when replacing a key in use."""
    done = run_mailer("keys", "address-hash-key", SECRET_KEY="short")
    assert done.returncode == 2
    assert "Only when replacing a key already in use" in done.stderr
    assert "Pin ADDRESS_HASH_KEY first" not in done.stderr


ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    # As the README tells production to start them (a port nobody listens on: it never binds).
    "gunicorn": [
        str(MAILER.with_name("gunicorn")),
        "-c",
        "gunicorn.conf.py",
        "--bind",
        "127.0.0.1:1",
        "wsgi:app",
    ],
    "celery": [str(MAILER.with_name("celery")), "-A", "worker", "worker", "--pool", "solo"],
}


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SMTP_TIMEOUT": "abc"}, "SMTP_TIMEOUT"),
        ({"MAILER_ENV": "dev", "SECRET_KEY": ""}, "MAILER_ENV"),
        ({"BASE_URL": "http://news.example.org"}, "BASE_URL"),
    ],
)
def test_the_servers_refuse_a_bad_setting_in_one_line(
    server: str, settings: dict[str, str], named: str
) -> None:
    """gunicorn and the Celery worker stop at once with the setting named, not a traceback
    (and gunicorn does not fork workers that fail to boot, one after another)."""
    env = operator_env(**settings)
    if not settings.get("SECRET_KEY", SECRET):
        del env["SECRET_KEY"]
    done = subprocess.run(
        SERVERS[server], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and named in errors[0], done.stderr[-2000:]
