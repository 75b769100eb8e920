"""`mailer --help` answers without building the app (issue 13: "starting is quick")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner
from flask import Flask

from mailer.cli import COMMANDS, MailerGroup

MAILER = Path(sys.executable).with_name("mailer")
STARTUP_KEY = "a key for the start-up tests, 7f3e"  # 32 bytes and more, not guessable
HEAVY = (
    "sqlalchemy",
    "celery",
    "alembic",
    "argon2",
    "flask_limiter",
    "rich",
    "mailer.extensions",
    "mailer.models",
)


def run_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "MAILER_DOTENV")}
    # No SECRET_KEY in production: building the app would fail, so a listing that needs no
    # app shows it by working.
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "MAILER_ENV": "production", "MAILER_DOTENV": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mailer_help_lists_every_command_without_building_the_app() -> None:
    clean = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    done = subprocess.run(
        [str(MAILER), "--help"],
        env={**clean, "MAILER_ENV": "production", "MAILER_DOTENV": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for name, help_text in COMMANDS.items():
        assert f"  {name} " in done.stdout
        assert help_text[:30] in done.stdout
    assert "routes" in done.stdout and "shell" in done.stdout  # Flask's own commands too


def test_the_listing_imports_neither_the_models_nor_argon2() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['mailer', '--help']\n"
        "from mailer.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(*sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert run_python(code).splitlines()[-1] == ""


def test_building_the_app_computes_no_password_hash() -> None:
    code = (
        "import argon2\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, p, **kw: calls.append(1) or real(self, p)\n"
        "from mailer import create_app\n"
        "create_app({'SECRET_KEY': 'a key for the start-up tests, 7f3e', 'TESTING': True})\n"
        "print(len(calls))\n"
    )
    assert run_python(code).strip() == "0"


def test_the_listing_matches_the_commands_the_app_registers(app: Flask) -> None:
    ctx = click.Context(app.cli)
    registered = {
        name: command.get_short_help_str(limit=10**6)
        for name in app.cli.list_commands(ctx)
        if (command := app.cli.get_command(ctx, name)) is not None
    }
    assert registered == COMMANDS


def test_a_command_run_through_mailer_gets_the_app(app: Flask) -> None:
    group = MailerGroup(create_app=lambda: app, name="mailer")
    result = CliRunner().invoke(group, ["lists", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("weekly\tWeekly updates\tpublic")


# Imported where first used, not by building the app: Flask-Migrate, the entry-point scan of
# plugin commands, dkimpy (a worker's signer), and the parsers of feeds, odd bounces, addresses,
# IMAP, SNS certificates and QR codes, OpenSSL's bindings, and PostgreSQL's dialects on
# SQLite (together ~0.4 s of CPU).
AT_FIRST_USE = (
    "alembic",
    "dkim",
    "dns.resolver",
    "flask_limiter.commands",
    "flask_migrate",
    "feedparser",
    "flufl.bounce",
    "email_validator",
    "imapclient",
    "cryptography.x509",
    "cryptography.fernet",
    "cryptography.hazmat.bindings._rust",
    "segno",
    "sqlalchemy.dialects.postgresql",
    "mailer.extensions",
)


def test_an_app_command_imports_neither_alembic_nor_plugin_commands() -> None:
    """`mailer digest ...` builds the app without what AT_FIRST_USE names (issue 13: the time
    from typing `mailer digest send` to the last message)."""
    code = (
        "import sys\n"
        "sys.argv = ['mailer', 'digest', '--help']\n"
        "from mailer.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(*sorted(m for m in {AT_FIRST_USE!r} if m in sys.modules))\n"
    )
    sqlite = "sqlite:////nonexistent/mailer.db"  # the engine is made, never connected
    out = run_python(code, SECRET_KEY=STARTUP_KEY, DATABASE_URL=sqlite).splitlines()
    assert "Compose, send and control digests." in "\n".join(out)
    assert out[-1] == "mailer.extensions"  # the app was built, without those


def test_migrations_bind_when_first_used(app: Flask) -> None:
    from mailer.extensions import LazyMigrate

    assert isinstance(app.extensions["migrate"], LazyMigrate)
    with app.app_context():
        assert app.extensions["migrate"].db is not None  # flask_migrate's config, bound now
    assert not isinstance(app.extensions["migrate"], LazyMigrate)
    result = app.test_cli_runner().invoke(args=["db", "current"])
    assert result.exit_code == 0, result.output


def test_a_dkim_key_is_checked_at_start_without_dkimpy(tmp_path: Path) -> None:
    """The key is read and parsed at every start (a bad one is refused there), without
    importing dkimpy and dnspython: a worker loads them at its first signature."""
    from tests.test_dkim import rsa_key

    key = tmp_path / "dkim.pem"
    key.write_bytes(rsa_key(1024)[0])
    code = (
        "import sys\n"
        "from mailer import create_app\n"
        "create_app()\n"
        "print(*sorted(m for m in ('dkim', 'dns.resolver') if m in sys.modules))\n"
    )
    dkim = {"DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "example.org", "DKIM_PRIVATE_KEY_PATH": str(key)}
    sqlite = "sqlite:////nonexistent/mailer.db"
    out = run_python(code, SECRET_KEY=STARTUP_KEY, DATABASE_URL=sqlite, **dkim).splitlines()
    assert out[-1] == ""
