"""How long POST /subscribe takes for a new, pending, confirmed and suppressed address.

No enumeration means the page and status are the same (tests check that) and the time
is close enough that it does not tell the cases apart.
Run: `make bench` (or `python -m bench.signup_timing`).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mailer import create_app
from mailer.dev.runner import free_port, start_redis
from mailer.extensions import db
from mailer.models import MailingList, SubscriptionStatus, SuppressionReason
from mailer.subscriptions import service

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "100"))


def main() -> None:
    for floor in (0.0, 0.05):
        measure(floor)


def measure(floor: float) -> None:
    workdir = Path(tempfile.mkdtemp())
    redis_url = os.environ.get("REDIS_URL")
    proc = None
    if not redis_url:
        port = free_port()
        proc = start_redis(workdir, port, quiet=True)
        redis_url = f"redis://127.0.0.1:{port}/0"
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SIGNUP_CHALLENGE": False,
            "RATELIMIT_ENABLED": False,
            "SIGNUP_MIN_DURATION": floor,
        }
    )
    try:
        run(app, database_url, floor)
    finally:
        if proc:
            proc.terminate()


def run(app, database_url: str, floor: float) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(MailingList(slug="weekly", name="Weekly updates"))
        db.session.commit()
        weekly = service.lists_by_slug(["weekly"])
        for i in range(ROUNDS):
            service.subscribe(f"pending{i}@example.org", lists=weekly)
            signup = service.subscribe(f"confirmed{i}@example.org", lists=weekly)
            sub = db.session.get(service.Subscriber, signup.subscriber_id)
            sub.subscriptions[0].status = SubscriptionStatus.confirmed
            # hard_bounce: an erased address may sign up again (double opt-in), like a new one
            service.suppress(f"suppressed{i}@example.org", SuppressionReason.hard_bounce)
        db.session.commit()
    client = app.test_client()
    html = client.get("/subscribe").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    cases = ["new", "pending", "confirmed", "suppressed"]
    timings: dict[str, list[float]] = {case: [] for case in cases}
    for i in range(ROUNDS):
        for case in cases:  # interleaved, so drift hits every case alike
            data = {
                "email": f"{case}{i}@example.org",
                "lists": "weekly",
                "language": "en",
                "consent": "y",
                "csrf_token": token,
            }
            start = time.perf_counter()
            response = client.post("/subscribe", data=data)
            timings[case].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 303
    backend = database_url.split(":", 1)[0]
    print(f"POST /subscribe on {backend}, SIGNUP_MIN_DURATION={floor}, {ROUNDS} rounds (ms):")
    print(f"{'case':<12}{'median':>8}{'p90':>8}")
    for case in cases:
        values = sorted(timings[case])
        print(f"{case:<12}{statistics.median(values):>8.2f}{values[int(len(values) * 0.9)]:>8.2f}")


if __name__ == "__main__":
    sys.exit(main())
