"""The account settings as the code reads them: the 2FA mode and the session lifetimes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app

from mailer.config_check import ConfigError

MODES = ("required", "optional", "off")


def second_factor_mode(cfg: Mapping[str, Any] | None = None) -> str:
    """ADMIN_2FA, or its default: required in production, optional in development."""
    cfg = cfg if cfg is not None else current_app.config
    value = str(cfg.get("ADMIN_2FA") or "").strip().lower()
    if not value:
        return "optional" if cfg.get("MAILER_ENV") == "development" else "required"
    return value


def check(cfg: Mapping[str, Any]) -> None:
    """Refuse at start a second-factor mode the sign-in would trip over later."""
    mode = second_factor_mode(cfg)
    if mode not in MODES:
        raise ConfigError(f"ADMIN_2FA={cfg.get('ADMIN_2FA')!r}: use required, optional or off.")
    # The session and lock settings' ranges: config_check's least values ("int>=1"...).


def idle_timeout() -> timedelta:
    return timedelta(minutes=int(current_app.config["ADMIN_SESSION_IDLE_MINUTES"]))


def absolute_timeout() -> timedelta:
    return timedelta(hours=int(current_app.config["ADMIN_SESSION_MAX_HOURS"]))


def reauth_window() -> timedelta:
    return timedelta(minutes=int(current_app.config["ADMIN_REAUTH_MINUTES"]))
