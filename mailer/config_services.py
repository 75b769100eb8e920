"""Settings of the services the app talks to, checked at start: REDIS_URL, SMTP_URL,
BOUNCE_IMAP_URL, the DKIM key (read and parsed once) and FEEDS. Parsing only: no connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailer.config_check import ConfigError


def check(cfg: Mapping[str, Any]) -> None:
    """Refuse a Redis, SMTP or IMAP URL the app cannot use, and a DKIM set it cannot sign with."""
    _check_redis_url(cfg)
    _check_smtp_url(cfg)
    _check_imap_url(cfg)
    _check_dkim(cfg)
    _check_feeds(cfg)


def _check_feeds(cfg: Mapping[str, Any]) -> None:
    # Each entry is polled every 15 minutes: a slip would only show in the worker's log, and
    # an unknown language would file stories under a language no reader can choose. A feed
    # URL may carry a token, so it is never echoed.
    if not cfg.get("FEEDS"):
        return
    from urllib.parse import urlsplit

    from mailer.articles.feed_links import configured_feeds

    offered = list(cfg.get("LANGUAGES") or [])
    form = "give a feed URL, or its language and URL as fr=https://news.example.org/fr/feed.xml"
    for index, (url, language) in enumerate(configured_feeds(list(cfg["FEEDS"])), 1):
        try:
            parts = urlsplit(url)
            usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:  # a broken [IPv6] address
            usable = False
        if not usable:
            raise ConfigError(f"FEEDS entry {index} is not an http(s) URL: {form}.")
        if language is not None and language not in offered:
            raise ConfigError(
                f"FEEDS entry {index} names the language {language!r}, which the site does not"
                f" offer: use one of {', '.join(offered)} (adding a language is a catalogue under"
                " translations/, see Languages in the README)."
            )


def _check_redis_url(cfg: Mapping[str, Any]) -> None:
    # Three readers: redis-py (redis, rediss, unix), Celery's broker (redis, rediss) and the
    # rate limits' storage (redis, rediss, redis+unix): only what all three take. The URL may
    # hold a password, so it is never echoed.
    from redis.connection import parse_url

    url = str(cfg.get("REDIS_URL") or "")
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(
            "REDIS_URL is not a Redis URL: write redis://[:password@]host[:port][/db], or"
            " rediss://... for TLS, e.g. redis://127.0.0.1:6379/0 (unix:// sockets are not"
            " supported)."
        )
    try:
        parse_url(url)
    except ValueError:  # urllib's port, or redis-py's ?query arguments
        raise ConfigError(
            "REDIS_URL has a port that is not a number or a query argument redis-py refuses."
        ) from None


def _check_smtp_url(cfg: Mapping[str, Any]) -> None:
    from mailer.delivery.smtp_url import SmtpUrlError, parse_smtp_urls

    try:
        parse_smtp_urls(str(cfg.get("SMTP_URL") or ""))
    except SmtpUrlError as exc:
        raise ConfigError(_named("SMTP_URL", str(exc))) from None


def _check_imap_url(cfg: Mapping[str, Any]) -> None:
    url = cfg.get("BOUNCE_IMAP_URL")
    if not url:
        return
    from mailer.bounces.imap import ImapUrlError, parse_url

    try:
        parse_url(str(url))
    except ImapUrlError as exc:
        raise ConfigError(_named("BOUNCE_IMAP_URL", str(exc))) from None
    except ValueError:  # urllib: a port that is not a number; the URL may hold a password
        raise ConfigError(
            "BOUNCE_IMAP_URL has a port that is not a number from 0 to 65535."
        ) from None


DKIM_SETTINGS = ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_PRIVATE_KEY_PATH")


def _check_dkim(cfg: Mapping[str, Any]) -> None:
    """All three DKIM_* or none (delivery.dkim signs only with all three); a key that reads."""
    unset = [key for key in DKIM_SETTINGS if not cfg.get(key)]
    if len(unset) == len(DKIM_SETTINGS):
        return
    if unset:
        given = [key for key in DKIM_SETTINGS if key not in unset]
        raise ConfigError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} set but"
            f" {' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not: DKIM signing"
            " needs all three of DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_PATH (or"
            " none, and mail leaves unsigned)."
        )
    from pathlib import Path

    from mailer.delivery.dkim import DkimKeyError, check_key

    path = str(cfg["DKIM_PRIVATE_KEY_PATH"])
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"DKIM_PRIVATE_KEY_PATH={path!r} cannot be read ({exc.strerror or exc}): give the"
            " path of the private key file, readable by the user the app and worker run as."
        ) from None
    try:
        check_key(key)
    except DkimKeyError as exc:
        reason = " ".join(str(exc).split()).rstrip(".")  # dkimpy's run over several lines
        raise ConfigError(
            f"DKIM_PRIVATE_KEY_PATH={path!r}: {reason}. Give an unencrypted PEM key (RSA or"
            " Ed25519)."
        ) from None


def _named(key: str, message: str) -> str:
    return message if key in message else f"{key}: {message}"
