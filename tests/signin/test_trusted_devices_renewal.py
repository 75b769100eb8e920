"""A trusted browser's cookie gets a new nonce at every complete sign-in and at each hourly
renewal (the row's hash follows, under today's SECRET_KEY): a copy of an older cookie is a
stranger's. An argon2 rehash at sign-in keeps every trusted browser, and a browser whose
cookie no longer matches its row gets that row back at its next complete sign-in, not a
second one. A renewal or a sign-in racing "Forget" (or another tab's renewal) is no error
and brings nothing back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete, update

from mailer.accounts import device_store, devices, passwords
from mailer.extensions import db
from mailer.keys import derive
from mailer.models import TrustedDevice
from tests.accounts_helpers import (
    EMAIL,
    PASSWORD,
    FakeClock,
    form_post,
    make_editor,
    password_step,
)
from tests.conftest import TEST_SECRET
from tests.signin.test_trusted_devices import nonce_of, rows
from tests.signin.test_trusted_devices_page import (
    CHROME,
    FIREFOX,
    listed,
    lock_the_account,
    sign_in,
)


@pytest.fixture
def editor(app: Flask, clock: FakeClock) -> int:
    """The editor made on the fake clock (the package's editor is made on the real one)."""
    return make_editor(app)


def cookie(browser: FlaskClient) -> str:
    found = browser.get_cookie(devices.COOKIE_HTTP)
    assert found is not None
    return found.value


def holding(app: Flask, value: str) -> FlaskClient:
    """Another browser holding a copy of a device cookie (malware, a backup, a sync)."""
    copy = app.test_client()
    copy.set_cookie(devices.COOKIE_HTTP, value)
    return copy


def signs_in_again(browser: FlaskClient) -> None:
    data = {"email": EMAIL, "password": PASSWORD}
    kw: dict[str, Any] = {"environ_base": {"REMOTE_ADDR": "10.0.0.7"}}
    assert form_post(browser, "/admin/login", data, **kw).status_code == 303


def used_for_an_hour(browser: FlaskClient, clock: FakeClock) -> list[str]:
    """Requests every 20 minutes for an hour; the device cookies the last one set."""
    for _ in range(3):
        clock.advance(minutes=20, seconds=20)
        response = browser.get("/admin/")
        assert response.status_code == 200
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("editor_device=")]


def test_each_complete_sign_in_gives_a_new_nonce_and_a_copy_of_the_old_is_worthless(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    desk = sign_in(app)
    (row,) = rows(app)
    copies = []
    for _ in range(3):  # days of normal use
        copies.append(cookie(desk))
        clock.advance(hours=20)
        signs_in_again(desk)
        (now,) = rows(app)
        assert now.id == row.id  # the same browser keeps its row...
        assert now.nonce_hash == device_store_hash(app, nonce_of(desk))  # ...with a new nonce
        assert cookie(desk) not in copies
    lock_the_account(client, clock)  # strangers lock the account
    for value in copies:
        assert password_step(holding(app, value), ip="203.0.113.9").status_code == 429
    assert password_step(desk, ip="10.0.0.7").status_code == 303


def device_store_hash(app: Flask, nonce: str) -> str:
    with app.app_context():
        return device_store.nonce_hash(nonce)


def test_the_hourly_renewal_gives_a_new_nonce_and_a_copy_of_the_old_is_worthless(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    desk = sign_in(app)
    copied = cookie(desk)
    (renewed,) = used_for_an_hour(desk, clock)
    assert cookie(desk) != copied and "Max-Age=15552000" in renewed
    (row,) = rows(app)
    assert row.nonce_hash == device_store_hash(app, nonce_of(desk))
    assert row.last_used_at == clock.now
    thief = holding(app, copied)
    lock_the_account(client, clock)
    assert password_step(thief, ip="203.0.113.9").status_code == 429
    assert password_step(desk, ip="10.0.0.7").status_code == 303


def test_after_a_key_rotation_the_hourly_renewal_rehashes_the_row_with_the_new_key(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    desk = sign_in(app)
    old_hash = rows(app)[0].nonce_hash
    app.config.update(
        SECRET_KEY="a brand new secret key of at least 32 bytes!",
        SECRET_KEY_FALLBACKS=[TEST_SECRET],
    )
    assert used_for_an_hour(desk, clock)  # the session survives the rotation (server-side)
    assert rows(app)[0].nonce_hash != old_hash
    app.config.update(SECRET_KEY_FALLBACKS=[])  # the rotation is over
    lock_the_account(client, clock)
    assert password_step(desk, ip="10.0.0.7").status_code == 303  # still trusted


def test_an_argon2_rehash_at_sign_in_keeps_every_trusted_browser(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    laptop = sign_in(app, FIREFOX)
    desk = sign_in(app, CHROME)
    before = [r.id for r in rows(app)]
    # A new argon2-cffi with other defaults: the next sign-in rehashes the same password.
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=4, memory_cost=8192))
    clock.advance(hours=2)
    signs_in_again(desk)
    assert [r.id for r in rows(app)] == before  # no second row for the desk, none dead
    assert len(listed(desk)) == 2
    lock_the_account(client, clock)
    assert password_step(laptop, ip="10.0.0.7").status_code == 303  # the laptop still trusted


def test_a_browser_whose_cookie_no_longer_matches_gets_its_row_back_at_a_full_sign_in(
    app: Flask, client: FlaskClient, clock: FakeClock, editor: int
) -> None:
    """Two tabs renewed at once and the browser kept the loser's cookie: the next complete
    sign-in replaces its row (one row per browser), and it is trusted again."""
    desk = sign_in(app)
    (row,) = rows(app)
    with app.app_context():
        key = derive(TEST_SECRET, "editor-device")
        stale = URLSafeTimedSerializer(key, salt="mailer.editor-device").dumps(
            {"e": editor, "d": row.id, "n": "a nonce its row no longer has"}
        )
    desk.set_cookie(devices.COOKIE_HTTP, stale)
    clock.advance(minutes=10)
    signs_in_again(desk)
    (again,) = rows(app)
    assert again.id == row.id and again.nonce_hash == device_store_hash(app, nonce_of(desk))
    lock_the_account(client, clock)
    assert password_step(desk, ip="10.0.0.7").status_code == 303


def meanwhile(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[int], Any], inside: str = "seen"
) -> list[int]:
    """Right after this request's browser finds its row in devices.`inside` (the hourly
    renewal, or `remember` at a complete sign-in), another request acts on that row and
    commits; the ids of the rows it acted on. On SQLite a sign-in holds the database's
    write lock from its throttle check on, so no other writer can come in between: there
    the change is made in the sign-in's own transaction, where it looks as another
    request's committed change does (the row is not what was read)."""
    original_find, original_step = device_store.find, getattr(devices, inside)
    done: list[int] = []
    stepping: list[bool] = []

    def find(editor_id: int, nonce: str) -> TrustedDevice | None:
        found = original_find(editor_id, nonce)
        if found is not None and stepping and not done:
            done.append(found.id)
            if inside == "remember" and db.engine.dialect.name == "sqlite":
                db.session.execute(act(found.id).execution_options(synchronize_session=False))
            else:
                with db.engine.begin() as connection:
                    connection.execute(act(found.id))
        return found

    def step(editor_id: int) -> None:
        stepping.append(True)
        try:
            original_step(editor_id)
        finally:
            stepping.clear()

    monkeypatch.setattr(device_store, "find", find)
    monkeypatch.setattr(devices, inside, step)
    return done


def forget(device_id: int) -> Any:
    return delete(TrustedDevice).where(TrustedDevice.id == device_id)


def renew_elsewhere(device_id: int) -> Any:
    return update(TrustedDevice).where(TrustedDevice.id == device_id).values(nonce_hash="f" * 64)


def test_forget_racing_the_browsers_hourly_renewal_is_no_error(
    app: Flask, clock: FakeClock, editor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = sign_in(app)
    for _ in range(2):
        clock.advance(minutes=20)
        assert desk.get("/admin/").status_code == 200
    clock.advance(minutes=21)
    acted = meanwhile(monkeypatch, forget)
    response = desk.get("/admin/")
    assert acted and response.status_code == 200
    assert not [h for h in response.headers.getlist("Set-Cookie") if "editor_device=" in h]
    assert rows(app) == []  # nothing comes back


def test_forget_racing_the_browsers_complete_sign_in_is_no_error(
    app: Flask, clock: FakeClock, editor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = sign_in(app)
    clock.advance(hours=2)
    acted = meanwhile(monkeypatch, forget, inside="remember")
    signs_in_again(desk)  # it gave everything: trusted anew, in one row
    assert acted
    (row,) = rows(app)
    assert row.id != acted[0] and row.nonce_hash == device_store_hash(app, nonce_of(desk))


def test_two_tabs_renewing_at_once_leave_the_row_and_the_winners_cookie(
    app: Flask, clock: FakeClock, editor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = sign_in(app)
    (row,) = rows(app)
    for _ in range(2):
        clock.advance(minutes=20)
        assert desk.get("/admin/").status_code == 200
    clock.advance(minutes=21)
    acted = meanwhile(monkeypatch, renew_elsewhere)  # the other tab renewed first
    response = desk.get("/admin/")
    assert acted and response.status_code == 200
    # This request lost: it sets no cookie (the browser keeps the winner's), and forgets
    # nothing (no clone detection that a race between two tabs could set off).
    assert not [h for h in response.headers.getlist("Set-Cookie") if "editor_device=" in h]
    assert [(r.id, r.nonce_hash) for r in rows(app)] == [(row.id, "f" * 64)]
