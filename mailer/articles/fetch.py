"""Read a feed document from an http(s) URL or a file, within time and size limits."""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from mailer.numbers import whole_number

CHUNK = 64 * 1024


class FeedError(Exception):
    """The feed could not be fetched, read or parsed; nothing was imported."""


def is_url(source: str) -> bool:
    """Whether `source` is an http(s) URL (anything else is taken as a file path)."""
    return urlsplit(source).scheme.lower() in ("http", "https")


def read_source(
    source: str, timeout: float, max_bytes: int, private_addresses: bool = False
) -> bytes:
    """The bytes at an http(s) URL or in a file; FeedError past `max_bytes` or `timeout`.

    A URL whose host is on a loopback, private, link-local or otherwise non-public address
    is refused unless `private_addresses` (FEED_PRIVATE_ADDRESSES): an editor's import must
    not reach the services next to mailer (Redis, the database, cloud metadata). The host
    is resolved and vetted first, and the connection goes to a vetted address, on every
    redirect: DNS cannot switch it after the check, and a refused address is never
    connected to (no port scan through the error messages; all refusals read alike).
    """
    if is_url(source):
        return _fetch(source, timeout, max_bytes, private_addresses)
    return _read_file(source, max_bytes)


class PrivateAddress(OSError):
    """The feed's host is on a non-public network address."""

    def __str__(self) -> str:
        return (
            "its host is on a private or local network address, which mailer does not fetch "
            "from (FEED_PRIVATE_ADDRESSES=on allows it)"
        )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the low 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use only
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, RFC 4291 2.5.5.1


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to: mapped, NAT64, 6to4 or IPv4-compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(address: str) -> bool:
    """Whether an address (as getaddrinfo gives it) is on the public internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:  # on a NAT64 network it reaches that IPv4 address
            return embedded.is_global
    return ip.is_global


def _vetted_connection(
    address: tuple[str, int],
    timeout: float | None | object = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """socket.create_connection, but only to the host's public addresses (checked first)."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    allowed = [info for info in infos if _public(str(info[4][0]))]
    if not allowed:
        raise PrivateAddress()
    error: OSError = PrivateAddress()
    for family, kind, proto, _name, sockaddr in allowed:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)  # type: ignore[arg-type]
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _vetted_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _vetted_connection  # TLS starts on the vetted socket


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        options: dict[str, Any] = {"context": getattr(self, "_context", None)}
        return self.do_open(_PublicHTTPSConnection, req, **options)


def _size(n: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


def _read_limited(stream: io.BufferedIOBase, max_bytes: int, deadline: float | None) -> bytes:
    """Read until EOF, refusing more than `max_bytes` and, for URLs, past `deadline`."""
    buffer = bytearray()
    while chunk := stream.read1(CHUNK):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise FeedError(f"The feed is larger than {_size(max_bytes)}.")
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
    return bytes(buffer)


def _read_file(path: str, max_bytes: int) -> bytes:
    if "://" in path:
        raise FeedError("Give an http(s) URL or a file path.")
    try:
        with open(path, "rb") as stream:
            return _read_limited(stream, max_bytes, None)
    except OSError as exc:
        raise FeedError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _opener(private_addresses: bool) -> urllib.request.OpenerDirector:
    """http and https only (no file:, ftp: or data:, also not through a redirect).

    No proxy from the environment: the address check needs the real peer. A site that
    must go through a proxy to reach feeds sets FEED_PRIVATE_ADDRESSES and lets the
    proxy keep the private networks out.
    """
    opener = urllib.request.OpenerDirector()
    guarded = not private_addresses
    for handler in (
        urllib.request.ProxyHandler({} if guarded else None),
        urllib.request.UnknownHandler(),
        _PublicHTTPHandler() if guarded else urllib.request.HTTPHandler(),
        _PublicHTTPSHandler() if guarded else urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _fetch(url: str, timeout: float, max_bytes: int, private_addresses: bool) -> bytes:
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": "mailer-feed-import/1.0",
            "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml, */*",
        },
    )
    deadline = time.monotonic() + timeout
    try:
        with _opener(private_addresses).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            declared = whole_number(length)
            if declared is not None and declared > max_bytes:
                raise FeedError(f"The feed is larger than {_size(max_bytes)}.")
            data: bytes = _read_limited(response, max_bytes, deadline)
            return data
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FeedError(f"The feed URL answered HTTP {exc.code} {exc.reason}.") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _timed_out(url, timeout) from exc
        raise FeedError(f"Cannot fetch the feed at {url}: {exc.reason}.") from exc
    except TimeoutError as exc:
        raise _timed_out(url, timeout) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FeedError(f"Cannot fetch the feed at {url}: {exc}.") from exc


def _timed_out(url: str, timeout: float) -> FeedError:
    return FeedError(f"The feed at {url} did not answer within {timeout:g} seconds.")
