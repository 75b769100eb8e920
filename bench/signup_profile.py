"""CPU and SQL statements per POST /subscribe, in-process, for profiling the sign-up.

The burst benchmark (bench/signup_load.py) measures the server; this one measures one web
process's share without gunicorn or a load generator: the production settings (rate limits,
the proof of work, TRUSTED_PROXIES=1), PostgreSQL or SQLite, an embedded Redis, readers who
fetch the form first and then post it through the Flask test client, half of them new and
half confirmed subscribers. It prints CPU ms and SQL statements per post, the statements by
kind, and with BENCH_PROFILE=1 a cProfile (CPU time) of the posts (BENCH_PROFILE_OUT=file
keeps it for pstats).

`BENCH_DATABASE_URL=postgresql://…/bench python -m bench.signup_profile` (it drops and creates
the tables); BENCH_SIGNUPS posts (default 400). The floor is off (SIGNUP_MIN_DURATION=0): it
sleeps, it costs no CPU.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import event

from bench.loadgen import CHALLENGE_RE, TOKEN_RE, solve
from bench.signup_load import SECRET, seed
from mailer import create_app
from mailer.dev.runner import free_port, start_redis
from mailer.extensions import db

N = int(os.environ.get("BENCH_SIGNUPS", "400"))
WARMUP = 20
HOST = "newsletter.example.org"
PROXY = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Host": HOST}


def reader(app: Flask, n: int) -> tuple[Any, dict[str, str], dict[str, str]]:
    """A client that fetched the form; the headers and the form it will post."""
    client = app.test_client()
    ip = f"10.{(n >> 8) & 255}.{n & 255}.7"
    page = client.get("/subscribe", headers={**PROXY, "X-Forwarded-For": ip})
    html = page.get_data(as_text=True)
    token, challenge = TOKEN_RE.search(html), CHALLENGE_RE.search(html)
    assert token and challenge, "the form has no CSRF token or no challenge"
    email = f"known{n % 200}@example.org" if n % 2 else f"new-{time.time_ns()}-{n}@example.org"
    form = {
        "email": email,
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": token.group(1),
        "altcha": solve(json.loads(challenge.group(1))),
    }
    headers = {
        **PROXY,
        "X-Forwarded-For": ip,
        "Origin": "null",
        "Sec-Fetch-Site": "same-origin",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return client, headers, form


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    port = free_port()
    redis_proc = start_redis(workdir, port, quiet=True)
    redis_url = f"redis://127.0.0.1:{port}/0"
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'b.db'}"
    try:
        seed(database_url, redis_url)
        settings = {
            "MAILER_ENV": "production",
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SMTP_URL": "smtp://127.0.0.1:9",
            "BASE_URL": f"https://{HOST}",
            "TRUSTED_PROXIES": 1,
            "RATELIMIT_ENABLED": True,
            "SIGNUP_CHALLENGE": True,
            "SIGNUP_CHALLENGE_MAX_NUMBER": 50,
            "SIGNUP_MIN_DURATION": 0.0,
        }
        run(create_app(settings))
    finally:
        redis_proc.terminate()


def run(app: Flask) -> None:
    readers = [reader(app, n) for n in range(N + WARMUP)]
    with app.app_context():
        engine = db.engine
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(" ".join(a[2].split())))

    def post(client: Any, headers: dict[str, str], form: dict[str, str]) -> None:
        response = client.post("/subscribe", data=urlencode(form), headers=headers)
        assert response.status_code == 303, response.status_code

    for r in readers[:WARMUP]:
        post(*r)
    seen.clear()
    profile = cProfile.Profile(time.process_time) if os.environ.get("BENCH_PROFILE") else None
    cpu = time.process_time()
    if profile:
        profile.enable()
    for r in readers[WARMUP:]:
        post(*r)
    if profile:
        profile.disable()
    cpu = time.process_time() - cpu
    print(f"{N} posts: {cpu / N * 1000:.2f} ms CPU and {len(seen) / N:.2f} SQL statements each")
    for statement, count in Counter(s[:100] for s in seen).most_common():
        print(f"{count / N:6.2f}  {statement}")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        if os.environ.get("BENCH_PROFILE_OUT"):  # for pstats / snakeviz
            profile.dump_stats(os.environ["BENCH_PROFILE_OUT"])


if __name__ == "__main__":
    main()
