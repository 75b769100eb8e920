"""The README's configuration table is exactly the settings read from the environment."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

from mailer import config

README = Path(__file__).resolve().parent.parent / "README.md"


def documented_settings() -> set[str]:
    """Names in the first column of the table under "## Configuration"."""
    section = README.read_text().split("## Configuration", 1)[1]
    table = section.split("\n\n| Variable |", 1)[1].split("\n\n", 1)[0]
    names: set[str] = set()
    for row in table.splitlines()[2:]:
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def test_the_configuration_table_lists_every_environment_setting_and_no_other() -> None:
    expected = set(config.ENV_SETTINGS) | {"MAILER_DOTENV"}
    documented = documented_settings()
    assert sorted(expected - documented) == []  # read but not documented
    assert sorted(documented - expected) == []  # documented but not read


def test_every_rate_limit_the_app_reads_is_settable() -> None:
    limits = {name for name in vars(config) if name.startswith("RATELIMIT_")}
    assert limits <= set(config.ENV_SETTINGS)


def serving_section() -> str:
    text = README.read_text()
    return text.split("### Serving", 1)[1].split("\n### ", 1)[0]


def test_serving_says_how_to_install_and_start_all_four_processes() -> None:
    """Issue 9, item 5: a newcomer can go from a clone to a running deployment."""
    serving = serving_section()
    assert "python3.11 -m venv .venv && .venv/bin/pip install -e ." in serving
    for line in (
        "mailer db upgrade",
        "mailer create-editor",
        "gunicorn -c gunicorn.conf.py wsgi:app",
        "celery -A worker worker",
        "celery -A worker beat",
        "mkdir -p /var/lib/mailer",
        "mailer bounces serve",
    ):
        assert line in serving, line
    for setting in ("MAIL_FROM", "NETWORK_NAME", "CONTACT_LINE", "ADDRESS_HASH_KEY"):
        assert f"`{setting}`" in serving, setting


def test_the_commands_in_serving_take_the_options_shown() -> None:
    from mailer.bounces.cli import bounces_group
    from mailer.cli import create_editor_command

    options = {opt for p in create_editor_command.params for opt in getattr(p, "opts", [])}
    assert "--password-stdin" in options and "--password-stdin" in serving_section()
    serve = bounces_group.commands["serve"]
    assert "--lmtp" in {opt for p in serve.params for opt in getattr(p, "opts", [])}


def test_the_address_hash_key_recipe_makes_a_key_production_accepts() -> None:
    from mailer.keys import check_keys

    recipe = re.search(r"`(python -c '[^`]*token_hex[^`]*)`", serving_section())
    assert recipe is not None
    code = recipe.group(1).removeprefix("python -c '").removesuffix("'")
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    key = made.stdout.strip()
    cfg = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SECRET_KEY_FALLBACKS": [secrets.token_urlsafe(48)],
        "ADDRESS_HASH_KEY": key,
    }
    check_keys(cfg)  # raises if the key is malformed or short


def test_the_paths_the_settings_comments_name_exist() -> None:
    """mailer/config.py pointed to mailer/admin/accounts/, which does not exist."""
    root = README.parent
    named = re.findall(r"mailer/[\w/]+\.py", (root / "mailer" / "config.py").read_text())
    assert named and [path for path in named if not (root / path).is_file()] == []


def test_no_code_comment_points_to_a_file_the_repository_lacks() -> None:
    """The contract's file is not in the repository: comments say "the product contract"."""
    root = README.parent
    sources = [*root.glob("mailer/**/*.py"), *root.glob("tests/**/*.py"), *root.glob("*.py")]
    mentions = [path for path in sources if "SPEC" + ".md" in path.read_text()]
    assert mentions == []


def test_build_output_is_ignored() -> None:
    ignored = (README.parent / ".gitignore").read_text().split()
    assert "build/" in ignored
