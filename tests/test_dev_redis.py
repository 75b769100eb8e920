"""Commands typed beside `make run` queue on its Redis, or refuse (review of the CLI, item 1).

`mailer dev` starts Redis on a free port and gave its URL to its own children only: a
`MAILER_ENV=development mailer subscribers import ...` in another terminal queued the
confirmation mails on redis://127.0.0.1:6379, where no worker of this setup listens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from mailer.dev.redis_state import MISSING
from mailer.tasks import enqueue_after_commit, send_confirmation
from tests.conftest import queued_tasks
from tests.test_dev_runner import INSTANCE, MAILER, free_port, processes_marked

STATE = INSTANCE / "dev-redis.json"
FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>News</title><link>https://news.example.org/</link>
<description>d</description>
<item><title>One</title><link>https://news.example.org/1</link><description>First</description>
<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>
"""


def a_make_run_is_running() -> bool:
    """A developer's own `make run` in this checkout: these tests would fight over it."""
    try:
        os.kill(int(json.loads(STATE.read_text())["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a terminal beside `make run`: development, no REDIS_URL."""
    if a_make_run_is_running():
        pytest.skip("a `make run` of this checkout is running (instance/dev-redis.json)")
    skip = ("SECRET_KEY", "REDIS_URL", "SMTP_URL", "BASE_URL", "DATABASE_URL", "MAILER_DOTENV")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(
        MAILER_ENV="development",
        MAILER_DOTENV="/nonexistent",
        DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        MAILER_DEV_TEST=uuid.uuid4().hex,  # every child inherits it: leftovers are killed
    )
    assert mailer(env, "db", "upgrade").returncode == 0  # with the list "weekly"
    yield env
    for pid in processes_marked(f"MAILER_DEV_TEST={env['MAILER_DEV_TEST']}"):
        os.kill(pid, signal.SIGKILL)


def mailer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAILER), *args], env=env, capture_output=True, text=True, timeout=120
    )


def import_people(
    env: dict[str, str], tmp_path: Path, *addresses: str
) -> subprocess.CompletedProcess[str]:
    """`mailer subscribers import people.csv --list weekly`, as typed beside `make run`."""
    path = tmp_path / f"people-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("email\n" + "".join(f"{a}\n" for a in addresses))
    return mailer(env, "subscribers", "import", str(path), "--list", "weekly")


def test_without_make_run_commands_that_queue_refuse_and_write_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    imported = import_people(env, tmp_path, "ada@example.org")
    assert imported.returncode != 0, imported.stdout
    assert "Start `make run` first (no development Redis is running)" in imported.stderr
    assert "Traceback" not in imported.stderr
    exported = mailer(env, "subscribers", "export")
    assert exported.stdout.strip().count("\n") == 0, exported.stdout  # the header only

    feed = tmp_path / "feed.xml"
    feed.write_text(FEED)
    assert mailer(env, "import-feed", str(feed)).returncode == 0  # no Redis needed
    dry = mailer(env, "digest", "send", "--list", "weekly", "--dry-run")
    assert dry.returncode == 0 and "Dry run: nothing was sent." in dry.stdout
    sent = mailer(env, "digest", "send", "--list", "weekly", "--no-wait")
    assert sent.returncode != 0 and "Start `make run` first" in sent.stderr
    assert "No digest 1." in mailer(env, "digest", "status", "1").stderr  # none was made


def test_a_state_file_left_by_a_dead_make_run_is_not_believed(
    env: dict[str, str], tmp_path: Path, redis_base_url: str
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    INSTANCE.mkdir(exist_ok=True)
    STATE.write_text(json.dumps({"url": redis_base_url, "pid": dead.pid}))
    try:
        imported = import_people(env, tmp_path, "ada@example.org")
    finally:
        STATE.unlink()
    assert imported.returncode != 0 and "Start `make run` first" in imported.stderr


@pytest.mark.parametrize("config_overrides", [{"REDIS_MISSING": MISSING}])
def test_without_a_redis_no_task_is_published_anywhere(app: Flask) -> None:
    """What no command checks first (a notice mail) is not queued either: the queue is
    "down", as when Redis is, and its sweeper or the log says so."""
    with app.app_context():
        assert enqueue_after_commit(send_confirmation, 1) is False
    assert queued_tasks(app) == []


def outbox_page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox", timeout=10) as answer:
        return str(answer.read().decode())


def wait_for(condition: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


@pytest.mark.timeout(400)
def test_commands_beside_make_run_queue_on_its_redis_for_its_worker(
    env: dict[str, str], tmp_path: Path
) -> None:
    port, smtp_port = free_port(), free_port()
    with tempfile.TemporaryFile("w+") as out:
        dev = subprocess.Popen(
            [str(MAILER), "dev", "--port", str(port), "--smtp-port", str(smtp_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "Development outbox" in outbox_page(port), "mailer dev", 150)
            imported = import_people(env, tmp_path, "ada@example.org")
            assert imported.returncode == 0, imported.stderr
            assert "confirmation mail" in imported.stdout
            # The worker of this `make run` sent it: its SMTP catcher shows it.
            wait_for(lambda: "ada@example.org" in outbox_page(port), "the confirmation", 120)
            assert STATE.is_file()
        finally:
            dev.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                dev.wait(60)
            except subprocess.TimeoutExpired:
                dev.kill()
        out.seek(0)
        log = out.read()
    assert dev.returncode == 0, log
    assert not STATE.exists()  # removed at exit: commands no longer find a Redis that is gone
    again = import_people(env, tmp_path, "bo@example.org")
    assert again.returncode != 0 and "Start `make run` first" in again.stderr
