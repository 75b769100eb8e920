"""How long the public sign-up page takes to load in headless Chromium, JavaScript on and off.

The page with the proof-of-work challenge on: DOMContentLoaded and load (performance timing,
from navigation start), the median of BENCH_ROUNDS loads each (default 9), and how long the
solver took to fill the hidden field. Not part of `make bench`'s server figures.
Run: `python -m bench.signup_page_load` (needs `make browser`).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server

from mailer import create_app
from mailer.dev.runner import free_port, start_redis
from mailer.extensions import db
from mailer.models import MailingList
from tests.integration.test_browser import CHROMIUM_FLAGS, chromium_path

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
TIMING = (
    "(() => { const t = performance.getEntriesByType('navigation')[0];"
    " return [t.domContentLoadedEventEnd, t.loadEventEnd]; })()"
)


def main() -> None:
    workdir = Path(tempfile.mkdtemp())
    port = free_port()
    redis = start_redis(workdir, port, quiet=True)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "SIGNUP_CHALLENGE": True,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        db.session.add(MailingList(slug="weekly", name="Weekly updates", description="Digest."))
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/subscribe"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
            )
            for javascript in (True, False):
                measure(browser, url, javascript)
            browser.close()
    finally:
        server.shutdown()
        redis.terminate()


def measure(browser: Browser, url: str, javascript: bool) -> None:
    dcl, load, solved = [], [], []
    for _ in range(ROUNDS):
        context = browser.new_context(java_script_enabled=javascript)
        page = context.new_page()
        page.goto(url, wait_until="load")
        if javascript:
            # Polled from here: the page's CSP forbids the eval that wait_for_function uses.
            while not page.evaluate("document.getElementById('altcha').value"):
                time.sleep(0.01)
            dcl_ms, load_ms = page.evaluate(TIMING)
            solved.append(page.evaluate("performance.now()"))
        else:
            # No script: read the timing through CDP (evaluate needs JavaScript on).
            dcl_ms, load_ms = _timing_without_js(page)
        dcl.append(dcl_ms)
        load.append(load_ms)
        context.close()
    label = "JavaScript on " if javascript else "JavaScript off"
    line = (
        f"{label}: DOMContentLoaded {statistics.median(dcl):7.1f} ms,"
        f" load {statistics.median(load):7.1f} ms (median of {ROUNDS})"
    )
    if solved:
        line += f"; challenge solved by {statistics.median(solved):7.1f} ms"
    print(line, flush=True)


def _timing_without_js(page) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    import json

    session = page.context.new_cdp_session(page)
    result = session.send(
        "Runtime.evaluate", {"expression": f"JSON.stringify({TIMING})", "returnByValue": True}
    )
    dcl_ms, load_ms = json.loads(result["result"]["value"])
    return float(dcl_ms), float(load_ms)


if __name__ == "__main__":
    main()
