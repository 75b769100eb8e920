"""Development mode stays on this machine (audit L10).

/dev/outbox shows every confirmation and preferences link without a login, and `mailer dev`
prints an editor's password: development mode is refused unless BASE_URL is http on a
loopback host, `mailer dev` binds to loopback only, and the outbox answers loopback clients
only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mailer.config_check import ConfigError
from mailer.delivery.smtp_url import is_loopback

ADVICE = (
    "/dev/outbox shows every confirmation and preferences link without a login. To reach it"
    " from another machine, use an SSH tunnel (ssh -L 5000:127.0.0.1:5000 host)."
)


class DevelopmentExposed(ConfigError):
    """Development mode was asked for where others could reach it."""


def check_development(cfg: Mapping[str, Any]) -> None:
    """Refuse MAILER_ENV=development unless BASE_URL is http on a loopback host."""
    if cfg.get("MAILER_ENV") != "development":
        return
    parts = urlsplit(str(cfg.get("BASE_URL") or ""))
    if parts.scheme != "http" or not is_loopback(parts.hostname or ""):
        raise DevelopmentExposed(
            f"MAILER_ENV=development needs BASE_URL on http://127.0.0.1 or http://localhost,"
            f" not {cfg.get('BASE_URL')!r}: development mode is for this machine only. " + ADVICE
        )


def check_bind(host: str) -> None:
    """Refuse to serve development mode on anything but a loopback address."""
    if not is_loopback(host):
        raise DevelopmentExposed(
            f"mailer dev listens on loopback only (127.0.0.1, ::1 or localhost), not {host!r}. "
            + ADVICE
        )
