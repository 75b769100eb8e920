"""Operator footguns from the audit: development mode off loopback (L10), export mode (I6)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mailer import create_app
from mailer.dev.guard import DevelopmentExposed
from mailer.extensions import db
from mailer.subscriptions import service
from tests.conftest import SmtpServer, base_config, dispose, redis_db


@pytest.fixture
def config(database_url: str, redis_base_url: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        **base_config(database_url, redis_db(redis_base_url, 1), smtp_server.url),
        "MAILER_ENV": "development",
    }


@pytest.mark.parametrize(
    "base_url",
    [
        "https://news.example.org",
        "http://news.example.org",
        "http://0.0.0.0:5000",
        "http://192.168.1.20:5000",
        "https://127.0.0.1:5000",
        "http://localhost.example.org:5000",
    ],
)
def test_development_mode_is_refused_off_loopback(config: dict[str, Any], base_url: str) -> None:
    with pytest.raises(DevelopmentExposed, match="for this machine only"):
        create_app({**config, "BASE_URL": base_url})


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"]
)
def test_development_mode_on_loopback_starts(config: dict[str, Any], base_url: str) -> None:
    dispose(create_app({**config, "BASE_URL": base_url}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "news.example.org"])
def test_mailer_dev_refuses_to_listen_off_loopback(
    app: Flask, runner: Any, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    import mailer.dev.runner

    started: list[str] = []
    monkeypatch.setattr(mailer.dev.runner, "run_dev", lambda *args: started.append("run"))
    result = runner.invoke(args=["dev", "--host", host])
    assert result.exit_code == 1
    assert "listens on loopback only" in result.output and "SSH tunnel" in result.output
    assert "password" not in result.output and started == []


def test_mailer_dev_on_loopback_starts(
    app: Flask, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailer.dev.runner

    started: list[str] = []
    monkeypatch.setattr(mailer.dev.runner, "run_dev", lambda *args: started.append(args[1]))
    monkeypatch.setattr("mailer.demo.ensure_demo_editor", lambda instance: None)
    assert runner.invoke(args=["dev"]).exit_code == 0
    assert started == ["127.0.0.1"]


def test_the_outbox_answers_loopback_clients_only(config: dict[str, Any]) -> None:
    app = create_app({**config, "BASE_URL": "http://127.0.0.1:5000"})
    try:
        client = app.test_client()
        assert client.get("/dev/outbox").status_code == 200
        client.environ_base["REMOTE_ADDR"] = "203.0.113.5"
        assert client.get("/dev/outbox").status_code == 404
    finally:
        dispose(app)


@pytest.mark.parametrize("exists", [False, True])
def test_export_to_a_file_is_readable_by_its_owner_only(
    app: Flask, runner: Any, tmp_path: Path, exists: bool
) -> None:
    with app.app_context():
        service.subscribe("reader@example.org", lists=service.lists_by_slug(["weekly"]))
        db.session.commit()
    out = tmp_path / "export.csv"
    if exists:
        out.write_text("old\n")
        out.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        result = runner.invoke(args=["subscribers", "export", "--output", str(out)])
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "reader@example.org" in out.read_text() and "old" not in out.read_text()
