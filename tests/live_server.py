"""The app over real HTTP on loopback, for the browser tests: werkzeug's threaded server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wsgi import FileWrapper

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FilesReadFirst:
    """Hand werkzeug's server a static file's bytes, never the open file.

    When a browser drops a connection while a file is being sent, werkzeug's development
    server (3.x `run_wsgi`) reads the dead socket in its `finally` before it closes the
    response; the read raises and the file stays open. The garbage collector's
    ResourceWarning then fails whichever test is running (CI, stop 16). Static files are
    small: read them whole and close them before a byte goes out.
    """

    def __init__(self, app: Wsgi) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = self.app(environ, start_response)
        if not isinstance(body, FileWrapper):
            return body
        try:
            return [b"".join(body)]
        finally:
            body.close()


class Drained:
    """Count the requests inside the app; once closed, answer 503 without entering it.

    A page left open (a digest's progress polls every few seconds) can have a request in
    the app while the test ends. Its database connection would then go back to a pool that
    `dispose(app)` has already dropped, and stay open there until the garbage collector
    warns about it in some later test (psycopg's ResourceWarning, on PostgreSQL). Serving
    stops by closing this gate and waiting for the requests inside to leave.
    """

    def __init__(self, app: Wsgi) -> None:
        self.app = app
        self.inside = 0
        self.closed = False
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self.changed:
            if self.closed:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"The test server has stopped."]
            self.inside += 1
        try:
            # Flask releases the request's database session before it returns, except for a
            # streamed body (the subscriber export): the tests read each export to its end.
            return self.app(environ, start_response)
        finally:
            with self.changed:
                self.inside -= 1
                self.changed.notify_all()

    def close(self, timeout: float = 30) -> None:
        """Let no request in; wait (at most `timeout` s) for those inside to leave."""
        with self.changed:
            self.closed = True
            self.changed.wait_for(lambda: self.inside == 0, timeout)


@contextmanager
def serving(app: Flask, *, set_base_url: bool = True) -> Iterator[str]:
    """Serve `app` on a free loopback port; yield its base URL (also BASE_URL, for mail)."""
    gate = Drained(FilesReadFirst(app))
    server = make_server("127.0.0.1", 0, gate, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    if set_base_url:
        app.config["BASE_URL"] = base
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        gate.close()
