"""What the site says of itself, checked at start: BASE_URL (every link in mail is built
from it), MAIL_FROM (the From of every message) and EMBED_FRAME_ANCESTORS (it goes into the
sign-up form's Content-Security-Policy header as written).

Each is refused unless it is exactly one thing of its kind: one absolute URL, one address,
a list of CSP source expressions. A value that could carry a second header line, a second
address or a second policy directive must never reach a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from mailer.config_check import ConfigError
from mailer.delivery.smtp_url import is_loopback

# A host name as browsers and resolvers send it: ASCII labels (IDNA names in their xn--
# form), each 1 to 63 letters, digits or inner hyphens.
LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"{LABEL}(?:\.{LABEL})*\.?")
# RFC 3986 path characters, no query or fragment.
URL_PATH = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*")
# RFC 5322 dot-atom: VERP addresses are built as <local>+<token>@<domain>.
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LOCAL_PART = re.compile(rf"{ATEXT}(?:\.{ATEXT})*")


def check(cfg: MutableMapping[str, Any]) -> None:
    """Refuse a BASE_URL, MAIL_FROM or EMBED_FRAME_ANCESTORS that cannot be used as set."""
    check_base_url(cfg)
    check_mail_from(cfg)
    if cfg.get("EMBED_FRAME_ANCESTORS") is not None:
        cfg["EMBED_FRAME_ANCESTORS"] = frame_ancestors(cfg["EMBED_FRAME_ANCESTORS"])


def check_base_url(cfg: Mapping[str, Any]) -> None:
    """One absolute http(s) URL, no query or fragment; https in production, except on this
    machine (a loopback host: nothing crosses a network)."""
    url = cfg.get("BASE_URL")
    if not isinstance(url, str):
        raise ConfigError(f"BASE_URL={url!r} is not a URL: give the site's public address.")
    example = " (e.g. https://news.example.org, or https://example.org/newsletter)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(
            "BASE_URL has a port that is not a number from 1 to 65535, or a broken [IPv6] address."
        ) from None
    if "@" in parts.netloc:  # never echoed: it may hold a password
        raise ConfigError(
            "BASE_URL holds a user name or password: links in mail would carry them. Give"
            " the site's public address alone" + example + "."
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"BASE_URL={url!r} does not start with https:// or http:// (in lower case): give"
            " the site's public address, from which links in mail are built" + example + "."
        )
    host = parts.hostname or ""
    if any(c.isspace() or not c.isprintable() for c in url) or "\\" in url:
        raise ConfigError(f"BASE_URL={url!r} holds a space, a line break or a backslash.")
    if "?" in url or "#" in url:
        raise ConfigError(
            f"BASE_URL={url!r} has a query or a fragment (?… or #…): every link is built"
            " under it, so give the address alone" + example + "."
        )
    if (
        not _is_host(host, parts.netloc)
        or port == 0
        or parts.netloc.endswith(":")
        or not URL_PATH.fullmatch(parts.path)
    ):
        raise ConfigError(
            f"BASE_URL={url!r} has no valid host name or address (ASCII only: write an"
            " internationalised name in its xn-- form)" + example + "."
        )
    if parts.scheme == "http" and cfg.get("MAILER_ENV") == "production" and not is_loopback(host):
        raise ConfigError(
            f"BASE_URL={url!r} is plain http with MAILER_ENV=production: links in mail to"
            " readers (confirm, unsubscribe, preferences) are credentials and must not travel"
            " in the clear. Use https:// (behind a TLS proxy too: see README, Behind a TLS"
            " proxy); http:// is accepted only on 127.0.0.1, ::1 or localhost."
        )


def _is_host(host: str, netloc: str) -> bool:
    if netloc.startswith("["):  # an IPv6 literal; urlsplit checked it
        return bool(host)
    return bool(host) and bool(HOST_NAME.fullmatch(host)) and ".." not in host


def check_mail_from(cfg: Mapping[str, Any]) -> None:
    """One address, with an optional display name; no line break, no group, no second one."""
    value = cfg.get("MAIL_FROM")
    sample = " Write one address, or a name and an address: Weekly updates <news@example.org>."
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"MAIL_FROM={value!r} is empty or not text." + sample)
    if any(not c.isprintable() for c in value):
        raise ConfigError(
            f"MAIL_FROM={value!r} holds a line break or another control character: it would"
            " start a header of its own in every message." + sample
        )
    address = _one_address(value)
    if address is None:
        raise ConfigError(f"MAIL_FROM={value!r} is not exactly one address." + sample)
    local, _, domain = address.rpartition("@")
    if not LOCAL_PART.fullmatch(local) or not HOST_NAME.fullmatch(domain) or ".." in domain:
        raise ConfigError(
            f"MAIL_FROM={value!r}: the address {address!r} is not a plain name@domain (letters,"
            " digits and . _ + - before the @, an ASCII domain after it, no [IP])." + sample
        )


def _one_address(value: str) -> str | None:
    """The addr-spec of a From value holding exactly one mailbox, or None."""
    from email.errors import HeaderParseError, ObsoleteHeaderDefect
    from email.headerregistry import AddressHeader
    from email.policy import default

    try:
        header = default.header_factory("From", value)
    except (ValueError, IndexError, TypeError, HeaderParseError):  # "news@": IndexError
        return None
    # Obsolete is still readable ("Mr. Smith <…>", rewritten when the message is built).
    defects = [d for d in header.defects if not isinstance(d, ObsoleteHeaderDefect)]
    if not isinstance(header, AddressHeader) or defects:
        return None
    groups = header.groups
    if len(groups) != 1 or groups[0].display_name is not None or len(groups[0].addresses) != 1:
        return None
    address = groups[0].addresses[0]
    if not address.username or not address.domain:
        return None
    return str(address.addr_spec)


# CSP source expressions that mean something in frame-ancestors (CSP 3, section 2.3.1):
# scheme-source ("https:"), host-source ([scheme://]host[:port][path], host "*" or "*.name")
# and the keywords 'self' and 'none'. Anything else, a ";" or "," above all, would start a
# new directive or a new policy.
SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"
HOST_PART = r"(?:\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)"
PORT_PART = r"(?::(?:[0-9]+|\*))?"
PATH_PART = r"(?:/[A-Za-z0-9\-._~%!$&()*+=:@/]*)?"  # no ; , or ' (CSP: percent-encoded)
SOURCE = re.compile(rf"{SCHEME}:|(?:{SCHEME}://)?{HOST_PART}{PORT_PART}{PATH_PART}")
KEYWORDS = ("'self'", "'none'")


def frame_ancestors(value: Any) -> str:
    """EMBED_FRAME_ANCESTORS as the header gets it: its sources, one space apart."""
    if not isinstance(value, str) or not value.strip(" \t"):
        raise ConfigError(
            f"EMBED_FRAME_ANCESTORS={value!r} is set but empty: list the sites that may frame"
            " the sign-up form (e.g. https://news.example.org), or unset it for 'self' only."
        )
    if any(not (c.isprintable() and c.isascii()) and c != "\t" for c in value):
        raise ConfigError(
            f"EMBED_FRAME_ANCESTORS={value!r} holds a line break, a control character or a"
            " character outside ASCII: separate sources with spaces only."
        )
    sources = value.split()
    for source in sources:
        if source.lower() in KEYWORDS or SOURCE.fullmatch(source):
            continue
        raise ConfigError(
            f"EMBED_FRAME_ANCESTORS: {source!r} is not a CSP source: give sites such as"
            " https://news.example.org, https://*.example.org or https://example.org:8443,"
            " a scheme such as https:, or 'self', separated by spaces (no ; or , or other"
            " quoted keywords: they would change the page's security policy)."
        )
    normalised = [s.lower() if s.lower() in KEYWORDS else s for s in sources]
    if "'none'" in normalised and len(normalised) > 1:
        raise ConfigError(
            "EMBED_FRAME_ANCESTORS: 'none' must stand alone (it means no site may frame the form)."
        )
    return " ".join(normalised)
