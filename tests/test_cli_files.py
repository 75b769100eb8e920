"""Every command's file option or argument answers a path it cannot use with `Error: ...`
and exit status 2, never a traceback (review of the CLI, item 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask


@pytest.mark.parametrize(
    "command",
    [
        ["subscribers", "export"],
        ["subscribers", "export", "--list", "weekly"],
        ["audit", "export"],
    ],
)
def test_output_into_a_missing_directory_is_refused_clearly(
    app: Flask, runner: Any, tmp_path: Path, command: list[str]
) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    result = runner.invoke(args=[*command, "--output", str(target)])
    assert not isinstance(result.exception, OSError), result.exception  # before: a traceback
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value for '--output'" in result.output
    assert "No such file or directory" in result.output
    assert not target.parent.exists()


@pytest.mark.parametrize("command", [["subscribers", "export"], ["audit", "export"]])
def test_output_onto_a_directory_is_refused_clearly(
    app: Flask, runner: Any, tmp_path: Path, command: list[str]
) -> None:
    result = runner.invoke(args=[*command, "--output", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["subscribers", "import", "{path}", "--list", "weekly", "--confirmed"],
        ["suppress", "import", "{path}"],
    ],
)
def test_a_missing_input_file_is_refused_clearly(
    app: Flask, runner: Any, tmp_path: Path, command: list[str]
) -> None:
    missing = str(tmp_path / "nonexistent" / "people.csv")
    result = runner.invoke(args=[arg.format(path=missing) for arg in command])
    assert result.exit_code == 2 and "does not exist" in result.output
