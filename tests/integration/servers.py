"""The production web server (gunicorn with the repo's config) and a TLS-terminating proxy."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.procs import Gunicorn

__all__ = ["Gunicorn", "TlsProxy", "free_port"]

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards one request to the upstream over http, as nginx's proxy_pass with the usual
    `X-Forwarded-For $proxy_add_x_forwarded_for`, `-Proto $scheme`, `-Host $host` lines."""

    protocol_version = "HTTP/1.1"
    server: TlsProxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        prior = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{prior}, {client}" if prior else client
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        source = (self.server.source, 0)
        port = self.server.upstream_port
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=source)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.server.forwarded += 1

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _forward  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # no access log: lines would hold link tokens


class TlsProxy(ThreadingHTTPServer):
    """A TLS-terminating reverse proxy on loopback in the test process.

    It connects upstream from `source` (another loopback address), so that the app sees the
    proxy, not the browser, as the socket's peer: only a trusted X-Forwarded-For tells them
    apart.
    """

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, upstream_port: int, source: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.upstream_port, self.source, self.forwarded = upstream_port, source, 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)
