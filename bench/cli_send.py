"""The operator's figure (issue 13): from typing `mailer digest send` to the last message accepted.

`mailer digest send --list <slug>` runs as a subprocess, as an operator types it (it creates
the digest and queues its start; the real worker claims it, fans it out and sends), once per
fresh list of BENCH_CLI_N (5,000) readers, BENCH_CLI_RUNS (3) times; the median is reported
beside the steady-state send time of as many messages (N / the end-to-end rate), with where
the time went: the CLI until it says "queued", the worker's claim, its fan-out, the first
and the last message accepted.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import select

from bench import seed
from bench.sink import Sink
from mailer.extensions import db
from mailer.models import Digest, MailingList

GOAL = 1.5  # issue 13: at most 1.5x the steady-state send time
FANNED_OUT = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*?digest (\d+): (\d+) deliveries"
)


class Report(Protocol):
    def add(self, label: str, value: object) -> None: ...
    def fail(self, message: str) -> None: ...


@dataclass
class CliRun:
    total: float  # typed -> last message accepted
    queued: float | None  # typed -> the CLI printed "queued for the workers"
    claimed: float | None  # typed -> the worker claimed the digest (its started_at)
    fanned_out: float | None  # typed -> the worker logged the outbox written
    first: float  # typed -> first message accepted
    exited: float  # typed -> the CLI exited (it waits for the digest to be sent)
    cpu: float  # the CLI process's CPU seconds (user + system): its start, unlike wall time,
    # hardly moves with the machine's load


def options() -> tuple[int, int]:
    return int(os.environ.get("BENCH_CLI_N", "5000")), int(os.environ.get("BENCH_CLI_RUNS", "3"))


def mailer_command() -> str:
    """The console script of this environment, as an operator runs it."""
    return str(Path(sys.executable).with_name("mailer"))


def _lines(out: IO[bytes], stamps: dict[str, float]) -> None:
    for raw in iter(out.readline, b""):
        line = raw.decode(errors="replace")
        if "queued for the workers" in line and "queued" not in stamps:
            stamps["queued"] = time.perf_counter()


def _fanned_out_at(log: str, digest_id: int) -> float | None:
    """Wall-clock time (epoch) the worker logged the digest's outbox written."""
    for stamp, found_id, _count in FANNED_OUT.findall(log):
        if int(found_id) == digest_id:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def one_run(
    slug: str, n: int, env: dict[str, str], sink: Sink, worker_log: Path, report: Report
) -> CliRun | None:
    mailing_list = seed.seed_list(slug, n, 0)
    list_id = mailing_list.id
    target = sink.count + n
    stamps: dict[str, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the processes reaped so far
    wall, start = time.time(), time.perf_counter()
    proc = subprocess.Popen(
        [mailer_command(), "digest", "send", "--list", slug],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=_lines, args=(proc.stdout, stamps), daemon=True)
    reader.start()
    first = None
    if sink.wait_for(target - n + 1, 120):
        first = time.perf_counter() - start
    while not sink.wait_for(target, 10):
        if time.perf_counter() - max(sink.last_at, start) > 120:
            break
    total = sink.last_at - start
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    exited = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reader.join(5)
    if proc.returncode != 0 or sink.count < target or first is None:
        report.fail(f"`mailer digest send --list {slug}`: exit {proc.returncode}, sink short")
        return None
    db.session.rollback()
    digest = db.session.scalar(select(Digest).where(Digest.list_id == list_id))
    started = digest.started_at.timestamp() - wall if digest and digest.started_at else None
    fanned = _fanned_out_at(worker_log.read_text(errors="replace"), digest.id) if digest else None
    return CliRun(
        total=total,
        queued=stamps["queued"] - start if "queued" in stamps else None,
        claimed=started,
        fanned_out=fanned - wall if fanned is not None else None,
        first=first,
        exited=exited,
        cpu=cpu,
    )


def measure(env: dict[str, str], sink: Sink, worker_log: Path, rate: float, report: Report) -> int:
    """Runs the CLI BENCH_CLI_RUNS times (in an app context), reports the medians; the number
    of messages the runs sent to the sink."""
    n, runs = options()
    if runs <= 0 or n <= 0:
        return 0
    taken = set(db.session.scalars(select(MailingList.slug)))
    done: list[CliRun] = []
    for i in range(runs):
        slug = f"cli-{i + 1}"
        assert slug not in taken
        print(f"`mailer digest send --list {slug}` to {n:,} readers ({i + 1}/{runs})", flush=True)
        run = one_run(slug, n, env, sink, worker_log, report)
        if run is not None:
            done.append(run)
            print(f"  typed -> last accepted {run.total:.2f} s", flush=True)
    if not done:
        return 0

    def median(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{statistics.median(known):.2f} s" if known else "?"

    totals = [r.total for r in done]
    steady = n / rate if rate else None
    each = ", ".join(f"{t:.2f}" for t in totals)
    report.add(
        f"typed `mailer digest send` -> last accepted ({n:,} readers)",
        f"{statistics.median(totals):.2f} s median of {len(done)} ({each} s)",
    )
    if steady:
        ratio = statistics.median(totals) / steady
        report.add(
            f"  steady-state send time of {n:,} (at the end-to-end rate)",
            f"{steady:.2f} s; ratio {ratio:.2f}x (goal <= {GOAL}x)",
        )
    own = statistics.median(r.total / (r.total - r.first) for r in done if r.total > r.first)
    # The same ratio within each run: its own sending, under the load of that moment (the
    # steady-state figure above was measured earlier, under another).
    report.add("  ratio to the run's own sending (first -> last accepted)", f"{own:.2f}x")
    report.add("  typed -> CLI says queued", median([r.queued for r in done]))
    report.add("  typed -> worker claimed it", median([r.claimed for r in done]))
    report.add("  typed -> outbox written (fan-out done)", median([r.fanned_out for r in done]))
    report.add("  typed -> first message accepted", median([r.first for r in done]))
    report.add("  first -> last message accepted", median([r.total - r.first for r in done]))
    report.add("  typed -> CLI exited (it waits for 'sent')", median([r.exited for r in done]))
    report.add("  CPU of the CLI process (user + system)", median([r.cpu for r in done]))
    return n * len(done)
