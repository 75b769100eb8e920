"""Sign-in throttling and trusted browsers: a lock after six failures, a fake clock, an editor."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.accounts_helpers import FakeClock, install_clock, make_editor


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"LOGIN_BACKOFF_BASE": 2.0, "LOGIN_LOCK_AFTER": 6, "LOGIN_LOCK_MINUTES": 15}


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    return install_clock(app)


@pytest.fixture
def editor(app: Flask) -> int:
    return make_editor(app)
