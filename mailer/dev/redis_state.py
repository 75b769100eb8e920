"""Which Redis a running `mailer dev` uses, for the commands typed beside it.

`mailer dev` (`make run`) starts Redis on a free port and hands its URL to its children. A
command in another terminal (`MAILER_ENV=development mailer subscribers import ...`) has no
REDIS_URL: it reads the URL from instance/dev-redis.json, which exists while `mailer dev`
runs. Without that file, development has no Redis: rather than guess
redis://127.0.0.1:6379 (where no worker of this setup listens, or another deployment's
does), the app marks its queue missing, publishing a task raises, and the commands that
queue work refuse before they write anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from flask import current_app

FILE_NAME = "dev-redis.json"
MISSING = (
    "Start `make run` first (no development Redis is running): in development, commands"
    " queue their work on the Redis of `make run`, which tells them where it is in"
    " instance/dev-redis.json while it runs. To use another Redis, set REDIS_URL."
)
# What REDIS_URL holds when it is missing: a name that cannot resolve (RFC 6761's .invalid),
# never a guess at a real server. Publishing does not get that far (extensions.FlaskTask).
UNSET_URL = "redis://no-development-redis.invalid:6379/0"


def publish(instance: Path, url: str) -> Path:
    """Tell commands run beside this process which Redis it uses; the file's path."""
    path = instance / FILE_NAME
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it may hold a password
    with open(fd, "w", encoding="utf-8") as out:
        json.dump({"url": url, "pid": os.getpid()}, out)
    os.replace(partial, path)  # a reader never sees half a file
    return path


def withdraw(path: Path) -> None:
    """Remove the file `publish` wrote, unless another process has written its own since."""
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_pid(instance: Path) -> int | None:
    """The process id of a live `mailer dev` that published its Redis here."""
    pid = _read(instance / FILE_NAME).get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left behind by a `mailer dev` that was killed
    except PermissionError:
        pass  # alive, another user's
    return pid


def running_url(instance: Path) -> str | None:
    """The Redis URL of a live `mailer dev` of this checkout, if one runs."""
    if running_pid(instance) is None:
        return None
    url = _read(instance / FILE_NAME).get("url")
    return url if isinstance(url, str) and url else None


def require_redis() -> None:
    """Refuse a command that queues work when development has no Redis (before it writes)."""
    if current_app.config.get("REDIS_MISSING"):
        raise click.ClickException(MISSING)


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
