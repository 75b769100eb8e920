"""The current time, injectable: tests simulate days of traffic without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app, has_app_context

from mailer.models import utcnow

EXTENSION = "mailer.clock"


def now() -> datetime:
    """UTC now, or the app's injected clock (`app.extensions["mailer.clock"]`) if one is set."""
    if has_app_context():
        clock: Callable[[], datetime] | None = current_app.extensions.get(EXTENSION)
        if clock is not None:
            return clock()
    return utcnow()
