"""At most a few argon2 checks at once per process (64 MiB each): a botnet's sign-ins for
made-up addresses meet no per-account throttle, and 128 threads checking at once would want
8 GiB. Past the slots a sign-in waits, then gets 503 with Retry-After, never a 500."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.accounts import gate, passwords
from mailer.admin import auth
from tests.role_helpers import ROLES, login, make_editors


@pytest.fixture
def one_slot(monkeypatch: pytest.MonkeyPatch) -> threading.BoundedSemaphore:
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(gate, "_slots", slots)
    monkeypatch.setattr(gate, "WAIT_SECONDS", 0.05)
    return slots


def test_a_sign_in_with_every_slot_taken_is_503_with_retry_after(
    app: Flask, client: FlaskClient, one_slot: threading.BoundedSemaphore
) -> None:
    make_editors(app)
    assert one_slot.acquire(timeout=5)  # another request is checking a password
    try:
        response = login(client, "nobody@example.org")
    finally:
        one_slot.release()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(gate.RETRY_AFTER)
    assert "Sign-in is busy" in response.get_data(as_text=True)
    assert login(client, ROLES["owner"]).status_code == 303  # a slot free: signs in


def test_no_more_checks_run_at_once_than_there_are_slots(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real threads, a stand-in hasher that records how many run at once (the bound is what
    is tested, not argon2)."""
    monkeypatch.setattr(gate, "_slots", threading.BoundedSemaphore(2))
    monkeypatch.setattr(gate, "WAIT_SECONDS", 60.0)
    running, most, lock = 0, 0, threading.Lock()
    inside = threading.Barrier(2, timeout=30)

    class Recording:
        def verify(self, *_: Any) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                inside.wait()  # two in at once: the slots are really used
            except threading.BrokenBarrierError:
                pass
            with lock:
                running -= 1
            return False

    monkeypatch.setattr(passwords, "HASHER", Recording())
    monkeypatch.setattr(auth, "_dummy_hash", lambda: "unused")
    results: list[bool] = []

    def check() -> None:
        with app.app_context():
            results.append(auth.check_password(None, "guess"))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [False] * 8
    assert most == 2
