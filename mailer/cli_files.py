"""The files the operator's commands write (exports: addresses, the audit log)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import click


def open_private(path: str | Path, option: str = "--output") -> IO[str]:
    """`path` opened for writing with mode 0600, whatever the umask (audit I6).

    A path that cannot be written (a missing directory, no permission) is the operator's
    slip: `Error: Invalid value for '--output': ...` and exit status 2, not a traceback.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}.", param_hint=f"'{option}'"
        ) from None
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    return open(fd, "w", encoding="utf-8", newline="")
