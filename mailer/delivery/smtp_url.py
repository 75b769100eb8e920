"""SMTP_URL: the servers mail leaves through, and how each is protected (TLS, AUTH).

SMTP_URL may list several servers (comma- or whitespace-separated, each with an optional
`weight=N`). TLS policy (audit M7): a relay off loopback, or one we log in to, gets TLS or
nothing; AUTH never goes over plaintext. Only a loopback relay without credentials may be
spoken to in plaintext when it does not offer STARTTLS, or without checking its certificate
(verify=off).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

STARTTLS_MODES = ("auto", "require", "off")


class SmtpUrlError(ValueError):
    """SMTP_URL cannot be parsed, or asks for something unsafe."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost or a loopback address (no DNS lookup)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # any other name may resolve anywhere: treat it as remote


def starttls_mode(host: str, requested: str | None, credentials: bool) -> str:
    """The STARTTLS mode for a plain smtp:// server: "require", "auto" or "off".

    Default (`requested` None): "require" off loopback or with credentials, else "auto".
    With credentials, "auto" becomes "require" (a server that hides STARTTLS would
    otherwise get the password in plaintext) and "off" is refused.
    """
    if requested is not None and requested not in STARTTLS_MODES:
        raise SmtpUrlError("starttls must be auto, require or off")
    if credentials:
        if requested == "off":
            raise SmtpUrlError(
                "SMTP_URL has a user name and password but starttls=off: mailer never sends"
                " AUTH in plaintext; use starttls=require or smtps://"
            )
        return "require"
    if requested is not None:
        return requested
    return "auto" if is_loopback(host) else "require"


def check_verify_off(host: str, credentials: bool) -> None:
    """Refuse verify=off unless the relay is on loopback and we do not log in to it.

    Without certificate checks a man in the middle gets the password (AUTH over his TLS)
    and reads and changes every message: only a local relay, reached without crossing a
    network and given no secret, may be spoken to that way.
    """
    if credentials:
        raise SmtpUrlError(
            "SMTP_URL has a user name and password and verify=off: without a certificate"
            " check a man in the middle would get the password. Remove verify=off (add a"
            " private CA to the system's CA store, or point SSL_CERT_FILE at it)."
        )
    if not is_loopback(host):
        raise SmtpUrlError(
            "SMTP_URL has verify=off for a host off loopback: without a certificate check a"
            " man in the middle reads and changes every message. Remove verify=off (add a"
            " private CA to the system's CA store, or point SSL_CERT_FILE at it)."
        )


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # implicit TLS (smtps://)
    starttls: str  # "auto" (when offered), "require" or "off"
    username: str | None
    password: str | None = field(repr=False)
    verify: bool
    weight: int = 1  # share of the messages when SMTP_URL lists several servers

    @property
    def key(self) -> str:
        """host:port, the name a per-server rate limit or log line uses."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse smtp://[user:pass@]host[:port][?starttls=auto|require|off&verify=on|off&weight=N]."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpUrlError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        try:
            port = parts.port
        except ValueError:
            raise SmtpUrlError("the port of SMTP_URL must be a number from 0 to 65535") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        weight = query.get("weight", "1")
        if not weight.isdigit() or int(weight) < 1:
            raise SmtpUrlError("weight must be a whole number of at least 1")
        tls = parts.scheme == "smtps"
        username = unquote(parts.username) if parts.username else None
        if parts.password and username is None:
            raise SmtpUrlError(
                "SMTP_URL has a password but no user name: write smtp://user:password@host"
            )
        starttls = starttls_mode(parts.hostname, query.get("starttls"), username is not None)
        verify = query.get("verify", "on") != "off"
        if not verify:
            check_verify_off(parts.hostname, username is not None or bool(parts.password))
        return cls(
            host=parts.hostname,
            port=port or (465 if tls else 25),
            tls=tls,
            starttls="off" if tls else starttls,
            username=username,
            password=unquote(parts.password) if parts.password else None,
            verify=verify,
            weight=int(weight),
        )


def parse_smtp_urls(value: str) -> list[SmtpServer]:
    """The servers of an SMTP_URL that lists one or more URLs, separated by commas or spaces."""
    urls = [url for url in re.split(r"[\s,]+", value) if url]
    if not urls:
        raise SmtpUrlError("SMTP_URL is empty")
    servers: list[SmtpServer] = []
    for n, url in enumerate(urls, 1):
        try:
            server = SmtpServer.from_url(url)
        except SmtpUrlError as exc:
            if len(urls) == 1:
                raise
            # The URL itself may hold a password: name the entry by its position only.
            raise SmtpUrlError(
                f"SMTP_URL entry {n} of {len(urls)}: {exc} (servers are separated by commas"
                " or spaces; write them in a password as %2C or %20)"
            ) from None
        if any(s.key == server.key for s in servers):
            raise SmtpUrlError(f"SMTP_URL entry {n} of {len(urls)}: {server.key} is listed twice")
        servers.append(server)
    return servers
