"""A load generator that signs up as browsers do, arriving through a TLS proxy.

Each virtual reader fetches the form (its own session cookie, CSRF token and proof-of-work
challenge), solves the challenge ahead of the burst (a browser solves it while the reader
types), then posts the form with what a browser behind the proxy sends: the cookie, `Origin`,
`Sec-Fetch-Site: same-origin`, and the proxy's `X-Forwarded-For/-Proto/-Host`, each reader
from another network. Plain `http.client` on kept-alive connections, one per client thread.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import altcha

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CHALLENGE_RE = re.compile(r'id="altcha-challenge">(.*?)</script>', re.S)


@dataclass
class Reader:
    """One visitor: the address they type and what their browser holds for the form."""

    n: int
    email: str
    known: bool
    cookie: str = ""
    csrf_token: str = ""
    challenge: dict[str, object] = field(default_factory=dict)
    solution: str = ""

    @property
    def client_ip(self) -> str:
        # Another /24 for each reader: per-IP limits and network hashes see different people.
        return f"10.{(self.n >> 8) & 255}.{self.n & 255}.7"


@dataclass
class Result:
    """Latencies (seconds) of one burst, by kind of reader, and the wall time it took."""

    elapsed: float
    latencies: dict[str, list[float]]
    errors: list[str]

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = sorted(v for k, vs in self.latencies.items() if kind in (None, k) for v in vs)
        if not values:
            return float("nan")
        if q == 50:
            return statistics.median(values)
        return values[min(len(values) - 1, int(len(values) * q / 100))]


class Site:
    """Where the load goes: the server's address and the public origin the proxy serves."""

    def __init__(self, port: int, public_origin: str) -> None:
        self.port, self.public_origin = port, public_origin
        self.public_host = urlsplit(public_origin).netloc

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def headers(self, reader: Reader, **extra: str) -> dict[str, str]:
        """What arrives at the app from the proxy for this reader's browser."""
        return {
            "Host": self.public_host,
            "X-Forwarded-For": reader.client_ip,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": self.public_host,
            "User-Agent": "Mozilla/5.0 (bench)",
            **extra,
        }


def fetch_form(site: Site, conn: http.client.HTTPConnection, reader: Reader) -> None:
    """GET /subscribe as this reader's browser: keep its cookie, token and challenge."""
    conn.request("GET", "/subscribe", headers=site.headers(reader, **{"Sec-Fetch-Site": "none"}))
    response = conn.getresponse()
    html = response.read().decode()
    if response.status != 200:
        raise RuntimeError(f"GET /subscribe answered {response.status}")
    cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    reader.cookie = "; ".join(c for c in cookies if not c.endswith("="))
    token, challenge = TOKEN_RE.search(html), CHALLENGE_RE.search(html)
    if not token or not challenge:
        raise RuntimeError("the form has no CSRF token or no challenge")
    reader.csrf_token, reader.challenge = token.group(1), json.loads(challenge.group(1))


def solve(challenge: dict[str, object]) -> str:
    """The altcha payload a browser's pow.js would put in the form."""
    found = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["max_number"]
    )
    if found is None:
        raise RuntimeError("challenge without a solution")
    keys = ("algorithm", "challenge", "salt", "signature")
    payload = {k: challenge[k] for k in keys} | {"number": found.number}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def solve_all(readers: list[Reader]) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        solutions = list(pool.map(solve, [r.challenge for r in readers], chunksize=50))
    for reader, solution in zip(readers, solutions, strict=True):
        reader.solution = solution


def post_signup(site: Site, conn: http.client.HTTPConnection, reader: Reader) -> None:
    """POST /subscribe as the reader's browser does (a no-referrer page: Origin null)."""
    body = urlencode(
        {
            "email": reader.email,
            "name": "",
            "lists": "weekly",
            "language": "en",
            "consent": "y",
            "website": "",
            "csrf_token": reader.csrf_token,
            "altcha": reader.solution,
        }
    )
    headers = site.headers(
        reader,
        **{
            "Cookie": reader.cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "null",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    conn.request("POST", "/subscribe", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 303 or "/check-inbox" not in (response.getheader("Location") or ""):
        raise RuntimeError(f"POST /subscribe answered {response.status}")


def post_minimal(site: Site, conn: http.client.HTTPConnection, reader: Reader) -> None:
    """POST the address to the minimal endpoint (validate, insert, enqueue)."""
    body = urlencode({"email": reader.email})
    headers = site.headers(reader, **{"Content-Type": "application/x-www-form-urlencoded"})
    conn.request("POST", "/signup", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 303:
        raise RuntimeError(f"POST /signup answered {response.status}")


Action = Callable[[Site, http.client.HTTPConnection, Reader], None]


def burst(
    site: Site, readers: Iterable[Reader], action: Action, clients: int, rate: float | None = None
) -> Result:
    """Run `action` for every reader from `clients` threads.

    Without `rate`, each thread starts its next reader as soon as the last one is answered
    (the most the server can do). With `rate` (per second), reader i arrives at i / rate
    whatever the answers, as a burst of visitors does, and its latency counts from then, so
    time spent waiting for a free client thread counts too.
    """
    todo = list(reversed(list(readers)))
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {"new": [], "known": []}
    errors: list[str] = []
    started = time.perf_counter()
    arrivals = iter(range(len(todo)))

    def client() -> None:
        conn = site.connection()
        while True:
            with lock:
                if not todo:
                    break
                reader, due = todo.pop(), started + next(arrivals) / rate if rate else 0.0
            if rate:
                time.sleep(max(0.0, due - time.perf_counter()))
            begin = due if rate else time.perf_counter()
            try:
                action(site, conn, reader)
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                conn.close()
                conn = site.connection()
                with lock:
                    errors.append(str(exc))
                continue
            took = time.perf_counter() - begin
            with lock:
                latencies["known" if reader.known else "new"].append(took)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(time.perf_counter() - started, latencies, errors)
