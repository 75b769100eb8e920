"""`mailer dev` fails cleanly (issue 9, item 6): a busy port names itself, exits 1, and
leaves no child running (before, a busy SMTP catcher port left the embedded redis-server
running, and a busy web port still printed "mailer is running" and exited 0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mailer.dev.runner import wait_for_web

MAILER = Path(sys.executable).with_name("mailer")
INSTANCE = Path(__file__).resolve().parent.parent / "instance"


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_marked(mark: str) -> list[int]:
    """Every child `mailer dev` started: its environment holds `mark`, or it is a Redis
    server working in this checkout's instance/ (Redis overwrites its environment with its
    process title, so the mark cannot be read there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            marked = mark.encode() in (entry / "environ").read_bytes()
            in_instance = os.readlink(entry / "cwd") == str(INSTANCE)
        except OSError:
            continue
        if marked or in_instance:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def dev_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("dev") / "mailer.db"
    skip = ("SECRET_KEY", "REDIS_URL", "SMTP_URL", "BASE_URL", "DATABASE_URL", "MAILER_DOTENV")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(
        MAILER_ENV="development", MAILER_DOTENV="/nonexistent", DATABASE_URL=f"sqlite:///{database}"
    )
    migrated = subprocess.run(
        [str(MAILER), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.fixture
def mark(dev_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment plus a marker that every child inherits; leftovers are killed."""
    token = f"MAILER_DEV_TEST={uuid.uuid4().hex}"
    yield {**dev_env, "MAILER_DEV_TEST": token.split("=", 1)[1]}
    for pid in processes_marked(token):
        os.kill(pid, signal.SIGKILL)


def run_dev(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `mailer dev`; its output goes to files, so a leaked child holding them open
    cannot keep this waiting."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(
            [str(MAILER), "dev", *args], env=env, stdout=out, stderr=err, timeout=100
        ).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([], code, out.read(), err.read())


def leftovers(env: dict[str, str]) -> list[int]:
    token = f"MAILER_DEV_TEST={env['MAILER_DEV_TEST']}"
    deadline = time.monotonic() + 15  # a child may take a moment to exit after its parent
    while (found := processes_marked(token)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_a_busy_smtp_port_is_named_and_leaves_nothing_running(mark: dict[str, str]) -> None:
    with listening() as busy:
        smtp_port = busy.getsockname()[1]
        done = run_dev(mark, "--port", str(free_port()), "--smtp-port", str(smtp_port))
    assert leftovers(mark) == []  # before: the embedded redis-server kept running
    assert done.returncode == 1, done.stderr
    assert f"port {smtp_port}" in done.stderr and "--smtp-port" in done.stderr
    assert "Traceback" not in done.stderr
    assert leftovers(mark) == []


def test_a_busy_web_port_prints_no_banner_and_exits_1(mark: dict[str, str]) -> None:
    with listening() as busy:
        port = busy.getsockname()[1]
        done = run_dev(mark, "--port", str(port), "--smtp-port", str(free_port()))
    assert done.returncode == 1, done.stderr
    assert "mailer is running" not in done.stdout
    assert f"port {port}" in done.stderr and "--port" in done.stderr
    assert leftovers(mark) == []


def test_waiting_for_the_web_server_names_a_child_that_died() -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    child.wait(timeout=60)
    with pytest.raises(click.ClickException, match="the Celery worker exited with status 3"):
        wait_for_web("127.0.0.1", free_port(), [("the Celery worker", child)], timeout=30)


def test_waiting_for_the_web_server_returns_once_it_answers() -> None:
    with listening() as server:
        port = server.getsockname()[1]
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            wait_for_web("127.0.0.1", port, [("the web server", alive)], timeout=30)
        finally:
            alive.kill()
            alive.wait()


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "70000"), ("--smtp-port", "70000"), ("--port", "0")]
)
def test_an_impossible_port_is_refused_before_anything_starts(
    mark: dict[str, str], option: str, value: str
) -> None:
    """Before, --port 70000 started everything on port 4464 (70000 - 65536) and printed
    "open http://127.0.0.1:70000/subscribe"."""
    ports = {"--port": str(free_port()), "--smtp-port": str(free_port()), option: value}
    done = run_dev(mark, *(arg for pair in ports.items() for arg in pair))
    assert done.returncode == 2, done.stdout
    assert f"Invalid value for '{option}': {value} is not in the range 1<=x<=65535" in done.stderr
    assert "mailer is running" not in done.stdout
    assert leftovers(mark) == []
