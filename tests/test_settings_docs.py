"""The README's configuration table is exactly the settings read from the environment."""

from __future__ import annotations

import re
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
