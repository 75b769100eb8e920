"""A burst of sign-ups against the production server, beside a minimal endpoint.

The production recipe (README, "Serving"): gunicorn with the repo's gunicorn.conf.py,
TRUSTED_PROXIES=1, rate limits and the proof of work on, SIGNUP_MIN_DURATION kept. The load
generator (bench/loadgen.py) plays the TLS proxy and many browsers: each reader fetches the
form, solves the challenge ahead, and posts it with cookie, CSRF token, Origin and
Sec-Fetch-Site, from its own network. Half the readers are new, half are confirmed
subscribers: both must answer alike. In the same run, the same gunicorn configuration serves
a minimal endpoint that only validates, inserts and enqueues (bench/minimal_app.py), and the
old recipe (sync workers) for comparison.

Three measurements: the minimal endpoint flat out; POST /subscribe flat out; and POST /subscribe
under a burst of visitors arriving at a fixed rate (default 0.3x the minimal endpoint's), whose
latencies count from each arrival. Each server is warmed up first, untimed; the sign-up server
also gets ordinary traffic (a few clients) before the burst, so that its equal-time floor
starts from a warm server's work times, as it would when an article goes viral.
Run: `make bench` or `python -m bench.signup_load`.
BENCH_SIGNUPS (default 1500 posts per measurement), BENCH_SIGNUP_CLIENTS (clients of the
minimal endpoint, default 16), BENCH_SIGNUP_RATE (arrivals per s), BENCH_DATABASE_URL
(PostgreSQL; default SQLite in a temp dir), REDIS_URL (default an embedded Redis),
WEB_CONCURRENCY / WEB_THREADS (passed to gunicorn.conf.py), BENCH_SIGNUP_SYNC=0 skips the
sync-worker run.
"""

from __future__ import annotations

import os
import runpy
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import minimal_app
from bench.database import ensure_database
from bench.loadgen import (
    Reader,
    Result,
    Site,
    burst,
    fetch_form,
    post_minimal,
    post_signup,
    solve_all,
)
from bench.procs import Gunicorn
from mailer import config as defaults
from mailer import create_app
from mailer.dev.runner import free_port, start_redis
from mailer.extensions import db
from mailer.models import MailingList, SubscriptionStatus
from mailer.subscriptions import floor, service

N = int(os.environ.get("BENCH_SIGNUPS", "1500"))
CLIENTS = int(os.environ.get("BENCH_SIGNUP_CLIENTS", "16"))
KNOWN = 200  # confirmed subscribers who sign up again
# Untimed posts first: each process and thread opens its connections, loads templates.
WARMUP = 4 * CLIENTS
# Flat out, a sign-up's floor is a sleep, and it rises with the work's time when the CPUs
# are full: as many clients as the recipe's threads (2 x 128) keep the CPUs busy. With 64, the
# rate measured was 64 / (raised floor): the clients', not the server's, limit.
CAPACITY_CLIENTS = 256
# Before a burst the sign-up server is warm: its connections open (posts from as many
# clients as the flat-out run) and its floor (subscriptions/floor.py, the recent work times
# of each process) set by ordinary traffic, not by those first cold posts.
# Ordinary traffic arrives at a steady low rate from many connections: gunicorn's workers
# each get their share, and each its floor's window (kept per process) of ordinary work.
WARM_POSTS = CAPACITY_CLIENTS
STEADY_POSTS = 3 * floor.WINDOW
STEADY_RATE = 60.0  # per s
BURST_CLIENTS = 128  # enough that arrivals never wait for a free client thread
GOAL_RATIO = 0.3
ORIGIN = "https://newsletter.example.org"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
FLOOR = float(defaults.SIGNUP_MIN_DURATION)


def seed(database_url: str, redis_url: str) -> None:
    """A fresh schema, the weekly list and KNOWN confirmed subscribers."""
    settings = {"TESTING": True, "SECRET_KEY": SECRET}
    app = create_app({**settings, "DATABASE_URL": database_url, "REDIS_URL": redis_url})
    with app.app_context():
        db.drop_all()
        minimal_app.metadata.drop_all(db.engine)
        db.create_all()
        minimal_app.metadata.create_all(db.engine)
        db.session.add(MailingList(slug="weekly", name="Weekly updates"))
        db.session.commit()
        weekly = service.lists_by_slug(["weekly"])
        for i in range(KNOWN):
            signup = service.subscribe(f"known{i}@example.org", lists=weekly)
            sub = db.session.get(service.Subscriber, signup.subscriber_id)
            sub.subscriptions[0].status = SubscriptionStatus.confirmed
        db.session.commit()
        db.engine.dispose()


def readers(run: str, count: int = N, first: int = 0) -> list[Reader]:
    """Readers, new and known interleaved (the same known addresses again and again)."""
    found = []
    for n in range(first, first + count):
        known = n % 2 == 1
        email = f"known{n % KNOWN}@example.org" if known else f"new-{run}-{n}@example.org"
        found.append(Reader(n, email, known))
    return found


@contextmanager
def serving(env: dict[str, str], app: str, workdir: Path, extra: list[str]) -> Iterator[Site]:
    port = free_port()
    server = Gunicorn(env, workdir / f"gunicorn-{port}.log", port, extra, app=app)
    server.start()
    try:
        yield Site(port, ORIGIN)
    finally:
        server.stop()
    if "Traceback" in server.output():
        raise RuntimeError(server.output()[-3000:])


def signups(
    env: dict[str, str], workdir: Path, run: str, extra: list[str], rate: float | None
) -> tuple[Result, Result | None]:
    """Fetch every reader's form, solve the challenges, warm the server up; then a burst at
    `rate` (if any), and as many sign-ups as the server can answer from CAPACITY_CLIENTS
    clients."""
    warmup = readers(run, WARM_POSTS, first=2 * N)
    steady = readers(run, STEADY_POSTS, first=2 * N + WARM_POSTS)
    held_readers, most_readers = readers(run, N, first=N) if rate else [], readers(run)
    everyone = warmup + steady + held_readers + most_readers
    with serving(env, "wsgi:app", workdir, extra) as site:
        forms = burst(site, everyone, fetch_form, CLIENTS)
        if forms.errors:
            raise RuntimeError(f"fetching forms: {forms.errors[:3]}")
        solve_all(everyone)
        burst(site, warmup, post_signup, CAPACITY_CLIENTS)
        burst(site, steady, post_signup, BURST_CLIENTS, rate=STEADY_RATE)
        held = burst(site, held_readers, post_signup, BURST_CLIENTS, rate=rate) if rate else None
        most = burst(site, most_readers, post_signup, CAPACITY_CLIENTS)
    return most, held


def report(label: str, result: Result, kinds: bool = False) -> None:
    line = f"{label:<52}{result.rate:>9.0f}{result.percentile(50) * 1000:>9.0f}"
    print(f"{line}{result.percentile(99) * 1000:>9.0f}{len(result.errors):>8}")
    if kinds:
        for kind in ("new", "known"):
            p50, p99 = result.percentile(50, kind) * 1000, result.percentile(99, kind) * 1000
            print(f"{'    ' + kind + ' addresses':<52}{'':>9}{p50:>9.0f}{p99:>9.0f}")


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-signup-"))
    redis_url, redis_proc = os.environ.get("REDIS_URL"), None
    if not redis_url:
        port = free_port()
        redis_proc = start_redis(workdir, port, quiet=True)
        redis_url = f"redis://127.0.0.1:{port}/0"
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    ensure_database(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "FLASK_"))}
    env.update(
        {
            "MAILER_ENV": "production",
            "MAILER_DOTENV": "/nonexistent",
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SMTP_URL": "smtp://127.0.0.1:9",  # nothing is sent: the mails wait in the queue
            "BASE_URL": ORIGIN,
            "TRUSTED_PROXIES": "1",
            "RATELIMIT_ENABLED": "on",
            "SIGNUP_CHALLENGE": "on",
            # The server's check costs the same whatever the work; less work to solve ahead.
            "SIGNUP_CHALLENGE_MAX_NUMBER": "5000",
        }
    )
    try:
        seed(database_url, redis_url)
        with serving(env, "bench.minimal_app:create_minimal_app()", workdir, []) as site:
            burst(site, readers("minimal", WARMUP, first=N), post_minimal, CLIENTS)
            minimal = burst(site, readers("minimal"), post_minimal, CLIENTS)
        rate = float(os.environ.get("BENCH_SIGNUP_RATE") or GOAL_RATIO * minimal.rate)
        threaded = signups(env, workdir, "gthread", [], rate)
        sync = None
        if os.environ.get("BENCH_SIGNUP_SYNC", "1") != "0":
            old_recipe = ["--worker-class", "sync", "--workers", "2", "--threads", "1"]
            sync = signups(env, workdir, "sync", old_recipe, None)[0]
    finally:
        if redis_proc:
            redis_proc.terminate()
    print_summary(database_url, minimal, threaded, sync, rate)


def print_summary(
    database_url: str,
    minimal: Result,
    threaded: tuple[Result, Result | None],
    sync: Result | None,
    rate: float,
) -> None:
    most, held = threaded
    recipe = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    workers, threads = recipe["workers"], recipe["threads"]
    print(
        f"\nSign-up burst on {database_url.split(':', 1)[0]}, {N} posts per line, "
        f"TRUSTED_PROXIES=1, SIGNUP_MIN_DURATION={FLOOR}, gunicorn.conf.py "
        f"({workers} workers x {threads} threads); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<52}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    report(f"minimal endpoint, flat out ({CLIENTS} clients)", minimal)
    report(f"POST /subscribe, flat out ({CAPACITY_CLIENTS} clients)", most, kinds=True)
    if held:
        report(f"POST /subscribe, {rate:.0f} arriving per s", held, kinds=True)
    if sync:
        report(f"old recipe, 2 sync workers, flat out ({CAPACITY_CLIENTS})", sync, kinds=True)
    ratio = most.rate / minimal.rate if minimal.rate else 0.0
    print(f"flat out: {ratio:.2f}x the minimal endpoint (goal >= {GOAL_RATIO}x)")
    if held:
        p99 = held.percentile(99) * 1000
        print(
            f"{rate:.0f} per s ({rate / minimal.rate:.2f}x the minimal endpoint) arriving: "
            f"{held.rate:.0f} "
            f"per s served, p99 {p99:.0f} ms (goal < {250 + FLOOR * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    sys.exit(main())
