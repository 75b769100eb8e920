"""The browser tests' server closes a static file even when the browser hangs up mid-send."""

from __future__ import annotations

import gc
import io
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.wsgi import FileWrapper

from tests.live_server import Drained, FilesReadFirst, serving


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """What the garbage collector could not report (an unclosed file's ResourceWarning)."""
    seen: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(repr(u.exc_value))
    yield seen
    sys.unraisablehook = previous


def test_a_file_response_is_read_whole_and_closed() -> None:
    file = io.BytesIO(b"<svg/>" * 1000)

    def app(environ: dict[str, Any], start_response: Any) -> FileWrapper:
        start_response("200 OK", [])
        return FileWrapper(file)

    body = FilesReadFirst(app)({}, lambda *a: None)
    assert body == [b"<svg/>" * 1000]
    assert file.closed


def test_other_responses_pass_untouched() -> None:
    stream = iter([b"a", b"b"])
    assert FilesReadFirst(lambda e, s: stream)({}, lambda *a: None) is stream


def test_a_browser_hanging_up_on_a_static_file_leaks_no_file(
    app: Flask, unraisable: list[str]
) -> None:
    # Reset right after the request, as a browser closing a tab does: werkzeug's own
    # server left the file open in most of these 20 tries (CI, stop 16).
    with serving(app, set_base_url=False) as base:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(20):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET /static/favicon.svg HTTP/1.1\r\nHost: localhost\r\n\r\n")
            time.sleep(0.005)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        time.sleep(0.5)
    gc.collect()
    assert [seen for seen in unraisable if "favicon" in seen] == []


def test_serving_stops_after_the_requests_inside_the_app_leave() -> None:
    # A request still in the app as a test ends (a progress poll) must leave before the
    # app's database pool is dropped: its connection would stay open in the dropped pool.
    entered, release, left = threading.Event(), threading.Event(), threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(10)
        start_response("200 OK", [])
        left.set()
        return [b"done"]

    gate = Drained(slow)
    inside = threading.Thread(target=gate, args=({}, lambda *a: None))
    inside.start()
    assert entered.wait(10)
    closing = threading.Thread(target=gate.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # still waiting for the request inside
    statuses: list[str] = []
    assert gate({}, lambda status, headers: statuses.append(status)) == [
        b"The test server has stopped."
    ]
    assert statuses == ["503 Service Unavailable"]  # nobody new gets in
    release.set()
    closing.join(10)
    assert not closing.is_alive() and left.is_set()
    inside.join(10)
