"""Integration fixtures: a real Celery worker process on real Redis, a live HTTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mailer import create_app
from tests.conftest import (
    ROOT,
    TEST_SECRET,
    SmtpServer,
    base_config,
    clear_redis,
    dispose,
    redis_db,
    reset_database,
)
from tests.live_server import serving


class Worker:
    """`celery -A worker worker` as a child process, configured like the test app."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60, extra: tuple[str, ...] = ()) -> None:
        """Start it and wait until it is ready; `extra`: more arguments (e.g. "-B" for beat)."""
        self.log.write_text("")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"test-{os.getpid()}@%h",
                    *extra,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("the Celery worker did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def worker_redis_url(redis_base_url: str) -> str:
    return redis_db(redis_base_url, 2)


@pytest.fixture(scope="session")
def celery_worker(
    database_url: str,
    worker_redis_url: str,
    smtp_server: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    cfg = base_config(database_url, worker_redis_url, smtp_server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "FLASK_"))}
    env.update(
        {
            "MAILER_ENV": "production",
            "MAILER_DOTENV": "/nonexistent",
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": cfg["DATABASE_URL"],
            "REDIS_URL": worker_redis_url,
            "SMTP_URL": smtp_server.url,
            "BASE_URL": cfg["BASE_URL"],
            "MAIL_FROM": cfg["MAIL_FROM"],
            "SMTP_TIMEOUT": "5",
        }
    )
    worker = Worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def live_app(
    database_url: str,
    worker_redis_url: str,
    smtp_server: SmtpServer,
    celery_worker: Worker,
    config_overrides: dict[str, Any],
) -> Iterator[Flask]:
    """The app whose queue the real worker consumes; the SMTP server starts empty."""
    clear_redis(worker_redis_url)
    smtp_server.clear()
    app = create_app(
        {**base_config(database_url, worker_redis_url, smtp_server.url), **config_overrides}
    )
    reset_database(app)
    yield app
    smtp_server.clear()
    dispose(app)


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[str]:
    """The app served over real HTTP on loopback, for the browser."""
    with serving(live_app) as base:
        yield base
