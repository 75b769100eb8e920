"""gunicorn settings for the web app: `gunicorn -c gunicorn.conf.py wsgi:app`.

Environment (all optional):
  WEB_BIND         where to listen, comma-separated (default 127.0.0.1:8000: behind a proxy)
  WEB_CONCURRENCY  worker processes (default: one per CPU)
  WEB_THREADS      threads per worker (default 128)
  WEB_TIMEOUT      seconds before a silent worker is restarted (default 30)
  DATABASE_POOL_SIZE  database connections kept per worker (default: WEB_THREADS, at most 32)
Command-line options win over this file, e.g. `--certfile cert.pem --keyfile key.pem` to
serve TLS without a proxy.

Why threads: every accepted sign-up answers no sooner than SIGNUP_MIN_DURATION (the same time
for new and known addresses), and that wait is a sleep. A sync worker would sit idle through
it, so two of them served about 40 sign-ups a second; a sleeping thread costs no CPU, so a
burst (a viral article) is bounded by the CPUs, not by the floor.

Why so many threads: a thread holds each answer through its floor, and under load the floor
rises with the work's own time (up to SIGNUP_MAX_DURATION, 1 s: see subscriptions/floor.py).
Workers x threads / floor is the most sign-ups a second the server can hold: 2 x 32 threads
held 64 a second at a 1 s floor, below the arrivals of a burst, and answers queued for
seconds; 2 x 128 hold 256. A sleeping thread costs a little memory, no CPU and no database
connection (the session has committed and given it back before the floor).
"""

from __future__ import annotations

import os

bind = [item.strip() for item in os.environ.get("WEB_BIND", "127.0.0.1:8000").split(",") if item]
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 128)
# Kept database connections (unless set): one per thread that can be working at once. With
# fewer, a burst made each request past the pool's five open and close its own PostgreSQL
# connection. Threads asleep in the floor hold none, so 32 are enough for 2 CPUs. Mind
# PostgreSQL's max_connections (100 by default): workers x (pool + 10 overflow), plus the
# Celery workers.
os.environ.setdefault("DATABASE_POOL_SIZE", str(min(threads, 32)))
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
# A fresh process now and then, at different times per worker, bounds any slow growth.
max_requests = 20_000
max_requests_jitter = 2_000

# Only the app decides what X-Forwarded-* mean (ProxyFix, TRUSTED_PROXIES). gunicorn's own
# default trusts X-Forwarded-Proto and friends from 127.0.0.1, which would let any local
# process, or a proxy the app was not told about, turn a request into https.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}

# No access log: its lines would hold link tokens (confirm, unsubscribe, preferences) and
# client addresses. Errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = "info"

# gunicorn 25+ opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl):
# two instances on a machine would fight over it, and nothing here uses it.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Settings are checked once, in the master, before any worker is forked: a refused
    setting is one line ("Error: ...") and exit status 2, not a worker that fails to boot
    over and over."""
    from mailer import create_app_or_exit

    create_app_or_exit()
