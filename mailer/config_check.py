"""Settings are checked when the app is built: a bad one stops the start with one message.

Parsing only (no network, no database): yes/no, numbers and their ranges, the RATELIMIT_*
strings and texts here; the services the app talks to (REDIS_URL, SMTP_URL, BOUNCE_IMAP_URL,
the DKIM key) in config_services; what the site says of itself (BASE_URL, MAIL_FROM,
EMBED_FRAME_ANCESTORS) in config_site; the keys in keys. A setting that cannot be read must
never silently weaken a protection (an unknown yes/no read as "off" turned off rate limits
and the proof of work) nor fail late in a request or the worker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

TRUE = ("1", "on", "true", "yes")
FALSE = ("0", "off", "false", "no")


class ConfigError(RuntimeError):
    """A setting cannot be used as set; the message names it and says what to do."""


def parse_setting(key: str, kind: str, value: str) -> Any:
    """One setting from the environment or .env, read as `kind` (config.ENV_SETTINGS)."""
    text = value.strip()
    if kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ConfigError(
            f"{key}={value!r} is not a yes/no value: use on/off, true/false, yes/no or 1/0."
        )
    number = _BOUNDED.fullmatch(kind)
    if number:
        try:
            parsed = int(text) if number["type"] == "int" else float(text)
        except ValueError:
            parsed = math.nan
        if not math.isfinite(parsed):  # float() takes "nan" and "inf"
            what = "a whole number" if number["type"] == "int" else "a number"
            raise ConfigError(f"{key}={value!r} is not {what}.")
        return parsed
    if kind == "nonempty":
        if not text:
            raise ConfigError(f"{key} is set but empty: give a value, or unset it for the default.")
        return text
    if kind == "list":
        return [item for item in re.split(r"[\s,]+", value) if item]
    return value


# A number kind of ENV_SETTINGS, with the least value it may take: "int>=0", "float>0".
_BOUNDED = re.compile(r"(?P<type>int|float)(?:(?P<op>>=?)(?P<least>\d+))?")
# What the least value means, where it means something else than "nothing".
_ZERO_MEANS = {
    "TRUSTED_PROXIES": "0: no proxy in front, X-Forwarded-* ignored",
    "DATABASE_POOL_SIZE": "0: SQLAlchemy's default",
    "SEND_RATE": "0: unlimited",
}


ENVIRONMENTS = ("production", "development")


def check_environment(cfg: Mapping[str, Any]) -> None:
    """MAILER_ENV first: anything else read as production asked for a SECRET_KEY instead."""
    if cfg.get("MAILER_ENV") not in ENVIRONMENTS:
        raise ConfigError(
            f"MAILER_ENV={cfg.get('MAILER_ENV')!r} is neither production nor development:"
            " use MAILER_ENV=production (the default) or MAILER_ENV=development (as `make run`"
            " sets it)."
        )


def check_settings(cfg: MutableMapping[str, Any]) -> None:
    """Refuse now what the app would trip over late: ranges, URLs, rate limits, the DKIM key,
    and what the site says of itself in links, mail headers and its framing policy."""
    from mailer import config_services, config_site
    from mailer.accounts import policy

    _check_bounds(cfg)
    _check_rate_limits(cfg)
    policy.check(cfg)
    config_services.check(cfg)
    config_site.check(cfg)
    _check_review_lead(cfg)
    _check_texts(cfg)


def _check_bounds(cfg: Mapping[str, Any]) -> None:
    """Numbers below their kind's least value ("int>=0": no negative count or rate)."""
    from mailer import config

    for key, kind in (cfg.get("ENV_SETTINGS") or config.ENV_SETTINGS).items():
        bounded = _BOUNDED.fullmatch(kind)
        if not bounded or not bounded["op"] or cfg.get(key) is None:
            continue
        try:
            value = float(cfg[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={cfg[key]!r} is not a number.") from None
        least = int(bounded["least"])
        if value >= least if bounded["op"] == ">=" else value > least:
            continue
        whole = "a whole number" if bounded["type"] == "int" else "a number"
        more = f"of {least} or more" if bounded["op"] == ">=" else f"above {least}"
        note = f" ({_ZERO_MEANS[key]})" if key in _ZERO_MEANS else ""
        raise ConfigError(f"{key}={cfg[key]!r} is out of range: use {whole} {more}{note}.")


def _check_review_lead(cfg: Mapping[str, Any]) -> None:
    lead = cfg.get("DIGEST_REVIEW_LEAD_HOURS", 24)
    if not isinstance(lead, int) or isinstance(lead, bool) or not 0 <= lead <= 144:
        raise ConfigError(
            f"DIGEST_REVIEW_LEAD_HOURS={lead!r} must be a whole number of hours from 0 to 144"
            " (less than a week: the week's digest is drafted before its slot)."
        )
    _check_auto_pause(cfg)


def _check_auto_pause(cfg: Mapping[str, Any]) -> None:
    for key in ("AUTO_PAUSE_BOUNCE_RATE", "AUTO_PAUSE_COMPLAINT_RATE"):
        if key in cfg and not 0 <= float(cfg[key]) <= 100:
            raise ConfigError(f"{key}={cfg[key]!r}: give a percentage from 0 (off) to 100.")
    if "AUTO_PAUSE_MIN_SENT" in cfg and int(cfg["AUTO_PAUSE_MIN_SENT"]) < 1:
        raise ConfigError(f"AUTO_PAUSE_MIN_SENT={cfg['AUTO_PAUSE_MIN_SENT']!r}: at least 1.")


def _check_texts(cfg: Mapping[str, Any]) -> None:
    version = str(cfg.get("CONSENT_VERSION") or "").strip()
    # Stored with every consent record, in a column of 32 characters; imports write "external".
    if not version or len(version) > 32 or version == "external":
        raise ConfigError(
            f"CONSENT_VERSION={cfg.get('CONSENT_VERSION')!r}: give the version of the consent"
            " sentence, 1 to 32 characters and not 'external' (it marks imported consent),"
            " e.g. 2026-11-1."
        )
    pattern = str(cfg.get("SES_SNS_CERT_HOST_PATTERN") or "")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"SES_SNS_CERT_HOST_PATTERN={pattern!r} is not a regular expression ({exc})."
        ) from None


def _check_rate_limits(cfg: Mapping[str, Any]) -> None:
    from limits import parse_many

    for key in sorted(k for k in cfg if k in RATE_LIMIT_SETTINGS):
        try:
            parsed = parse_many(str(cfg[key]))
        except ValueError:
            parsed = []
        if not parsed:
            raise ConfigError(
                f"{key}={cfg[key]!r} is not a rate limit: write for example"
                " '10 per minute;60 per hour' (several limits separated by ';')."
            )


# The limits the app reads (Flask-Limiter's own RATELIMIT_* settings are not these).
RATE_LIMIT_SETTINGS = frozenset(
    {
        "RATELIMIT_SIGNUP_IP",
        "RATELIMIT_SIGNUP_ADDRESS",
        "RATELIMIT_LINK_ADDRESS",
        "RATELIMIT_TOKEN_PAGES",
        "RATELIMIT_LOGIN",
        "RATELIMIT_TEST_SEND",
    }
)
