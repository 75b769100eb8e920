"""Delivery benchmark (issue 4): one ~40 KB digest to N subscribers through real Celery workers.

Real worker processes (`celery -A worker worker -Q bulk,celery,mail`), a real Redis and a
real SMTP server on loopback (Postfix's smtp-sink; `scripts/ensure-smtp-sink.sh`). Times the
fan-out (`outbox.start`), then end to end from `enqueue_batches` to the last message the
sink accepted, next to a naive baseline (full Jinja render and a new SMTP connection per
message). Exits non-zero when the sink did not get exactly N messages or, when verifying,
when any recipient did not get exactly one. Run: `make bench`.

The timed run counts at the sink; a verification run (BENCH_VERIFY=1, which `make bench`
runs second) has smtp-sink write every message to a file and checks each recipient got
exactly one: that costs the sink about three times the CPU, so its figure is lower.

Environment: BENCH_N (10000), BENCH_CONCURRENCY (4), BENCH_BATCH_SIZE (the app's
DELIVERY_BATCH_SIZE), BENCH_DATABASE_URL (PostgreSQL; default SQLite in a temp dir),
BENCH_VERIFY (1/0; default off), BENCH_CLI_N and BENCH_CLI_RUNS (5000 and 3: typed
`mailer digest send` to the last message, bench/cli_send.py; not with BENCH_VERIFY),
BENCH_NAIVE_N (300), BENCH_FANOUT_N
(an extra fan-out-only measurement of that many recipients), BENCH_PROFILE (py-spy or
cprofile; with BENCH_PROFILE_CPU=1, cProfile counts CPU time, not wall time), BENCH_DKIM
(rsa or ed25519: sign with a generated key), BENCH_SYNC_COMMIT (0: DELIVERY_SYNC_COMMIT=off),
BENCH_SQLITE_WAL (1: put the SQLite file in WAL mode), BENCH_LANGUAGES (1/0, default on: a
second run of N readers spread over seven languages, its msgs/s beside the one-language
run's; bench.languages), BENCH_LANGUAGES_FIRST (1: the seven-language run goes first, to
interleave A/B across invocations), BENCH_WARMUP_N (concurrency x batch size when
BENCH_LANGUAGES is on: an untimed seven-language digest sent first), BENCH_SINK
(aiosmtpd: the fallback sink even when smtp-sink is installed), BENCH_KEEP (1: keep the
temp dir), REDIS_URL (default: an embedded Redis).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from bench import cli_send, languages, seed
from bench.database import ensure_database
from bench.procs import Worker, cpu_by_command, cpu_seconds, machine_busy_seconds, peak_rss_kib
from bench.profiling import PySpy, cprofile_summary, py_spy_summary
from bench.sink import Sink, start_sink
from mailer import config as default_config
from mailer import create_app
from mailer.delivery import Email
from mailer.dev.runner import free_port, start_redis
from mailer.digests import compose, control, outbox
from mailer.digests.content import list_headers, render_digest
from mailer.digests.slots import fill_slots, recipient_slots
from mailer.extensions import db
from mailer.models import Delivery, Digest, DigestStatus, Subscriber
from mailer.tasks import enqueue_batches

SECRET = "bench-secret-key-not-for-production"
STALL = 120.0  # seconds without a new message before the run counts as stuck
NAIVE_RCPT = "naive-{}@baseline.invalid"  # envelope recipients of the baseline: told apart


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "on", "true", "yes")


@dataclass
class Options:
    n: int
    concurrency: int
    batch_size: int
    database_url: str | None
    verify: bool
    naive_n: int
    fanout_n: int
    profile: str
    dkim: str
    sqlite_wal: bool
    sync_commit: bool
    keep: bool
    languages: bool = True
    languages_first: bool = False
    warmup_n: int = 0
    redis_pid: int = 0  # the embedded Redis the benchmark started, for its CPU time
    cli_sent: int = 0  # messages the `mailer digest send` runs sent (bench/cli_send.py)

    @classmethod
    def from_env(cls) -> Options:
        n = int(os.environ.get("BENCH_N", "10000"))
        opts = cls(
            n=n,
            concurrency=int(os.environ.get("BENCH_CONCURRENCY", "4")),
            batch_size=int(
                os.environ.get("BENCH_BATCH_SIZE", str(default_config.DELIVERY_BATCH_SIZE))
            ),
            database_url=os.environ.get("BENCH_DATABASE_URL") or None,
            verify=env_flag("BENCH_VERIFY", False),
            naive_n=int(os.environ.get("BENCH_NAIVE_N", "300")),
            fanout_n=int(os.environ.get("BENCH_FANOUT_N", "0")),
            profile=os.environ.get("BENCH_PROFILE", "").strip().lower(),
            dkim=os.environ.get("BENCH_DKIM", "").strip().lower(),
            sqlite_wal=env_flag("BENCH_SQLITE_WAL", False),
            sync_commit=env_flag("BENCH_SYNC_COMMIT", True),
            keep=env_flag("BENCH_KEEP", False),
            languages=env_flag("BENCH_LANGUAGES", True),
            languages_first=env_flag("BENCH_LANGUAGES_FIRST", False),
        )
        if opts.languages:
            opts.warmup_n = int(
                os.environ.get("BENCH_WARMUP_N", str(opts.concurrency * opts.batch_size))
            )
        return opts


@dataclass
class Report:
    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.rows.append((label, str(value)))

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"  FAILED: {message}", flush=True)

    def print(self) -> None:
        width = max(len(label) for label, _ in self.rows)
        rule = "-" * (width + 40)
        print(f"\n{rule}\nDelivery benchmark\n{rule}")
        for label, value in self.rows:
            print(f"{label:<{width}}  {value}")
        for note in self.notes:
            print(f"\n{note}")
        verdict = "FAILED: " + "; ".join(self.failures) if self.failures else "OK"
        print(f"{rule}\n{verdict}")


def main() -> int:
    opts = Options.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    workdir.chmod(0o711)  # smtp-sink runs as nobody and writes its dump below
    report = Report()
    with ExitStack() as stack:
        if not opts.keep:
            stack.callback(shutil.rmtree, workdir, True)
        else:
            print(f"keeping {workdir}")
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            port = free_port()
            redis = start_redis(workdir, port, quiet=True)
            stack.callback(redis.terminate)
            opts.redis_pid = redis.pid
            redis_url = f"redis://127.0.0.1:{port}/0"
        sink = start_sink(workdir, record=opts.verify)
        stack.callback(sink.stop)
        database_url = prepare_database(opts.database_url, workdir)
        settings = {
            "MAILER_ENV": "production",
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SMTP_URL": sink.url,
            "SMTP_TIMEOUT": 30.0,
            "BASE_URL": "https://news.example.org",
            "MAIL_FROM": "Weekly updates <newsletter@news.example.org>",
            "DELIVERY_BATCH_SIZE": opts.batch_size,
            "DELIVERY_SYNC_COMMIT": opts.sync_commit,
            "RATELIMIT_ENABLED": False,
            **dkim_settings(opts.dkim, workdir),
        }
        app = create_app(settings)
        stack.callback(lambda: _dispose(app))
        run(app, opts, settings, sink, workdir, report)
    report.print()
    return 1 if report.failures else 0


def prepare_database(url: str | None, workdir: Path) -> str:
    """The bench database URL: SQLite in the temp dir, or PostgreSQL (created when missing)."""
    if not url:
        return f"sqlite:///{workdir / 'bench.db'}"
    ensure_database(url)
    return url


def dkim_settings(kind: str, workdir: Path) -> dict[str, str]:
    """DKIM_* settings with a key made for this run (BENCH_DKIM=rsa or ed25519), or none."""
    if not kind:
        return {}
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if kind not in ("rsa", "ed25519"):
        raise SystemExit("BENCH_DKIM must be rsa or ed25519")
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path = workdir / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "DKIM_SELECTOR": "bench",
        "DKIM_DOMAIN": "news.example.org",
        "DKIM_PRIVATE_KEY_PATH": str(path),
    }


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run(
    app: Flask, opts: Options, settings: dict[str, Any], sink: Sink, workdir: Path, report: Report
) -> None:
    extras = max(1, opts.n // 100)
    with app.app_context():
        print(f"seeding {opts.n} recipients (+{extras} each pending, unsubscribed, suppressed)")
        digest_id, seconds = timed(lambda: setup_database(opts, extras))
        if opts.languages:
            print(f"seeding {opts.n} more recipients in seven languages, stories translated")
            multi_id, more = timed(lambda: languages.seed_digest(opts.n, extras))
            seconds += more
        if opts.warmup_n:
            warm_id = languages.seed_digest(opts.warmup_n, 0, "warm", like=multi_id)
        report.add("messages (N)", f"{opts.n:,}")
        report.add("code", code_version())
        report.add("database", describe_database())
        if db.engine.dialect.name == "postgresql":
            commit = "synchronous" if opts.sync_commit else "off (DELIVERY_SYNC_COMMIT=off)"
            report.add("record commit", commit)
        report.add("concurrency / batch size", f"{opts.concurrency} / {opts.batch_size}")
        report.add("DKIM", {"rsa": "rsa-sha256, 2048 bits", "": "off"}.get(opts.dkim, opts.dkim))
        report.add("seeding (not timed)", f"{seconds:.1f} s")

        print("fan-out (timed)", flush=True)
        count, seconds = timed(lambda: fan_out(digest_id))
        if count != opts.n:
            report.fail(f"the fan-out made {count} deliveries, not {opts.n}")
        report.add("fan-out: start() + commit", f"{seconds:.2f} s ({count / seconds:,.0f} rows/s)")
        report.add("message size", message_size(digest_id))
        if opts.languages:
            count, seconds = timed(lambda: fan_out(multi_id))
            if count != opts.n:
                report.fail(f"the seven-language fan-out made {count} deliveries, not {opts.n}")
            report.add("fan-out, seven languages (7 renders)", f"{seconds:.2f} s")
            report.add("readers by language", languages.spread(multi_id))
        print(f"naive baseline: {opts.naive_n} messages", flush=True)
        naive = naive_baseline(app, digest_id, sink, opts.naive_n)
        report.add(f"naive baseline ({opts.naive_n} messages)", f"{naive:,.0f} msgs/s")

    worker = start_worker(opts, settings, workdir)
    runs = [("one language", digest_id)] + (
        [("seven languages", multi_id)] if opts.languages else []
    )
    if opts.languages_first:
        runs.reverse()
    rates: dict[str, float] = {}
    try:
        if opts.warmup_n:
            print(f"warm-up: {opts.warmup_n} messages in seven languages (not timed)", flush=True)
            if not languages.warm_up(app, warm_id, sink, opts.warmup_n):
                report.fail(f"the warm-up did not finish\n{worker.output()[-3000:]}")
            report.add("warm-up (not timed)", f"{opts.warmup_n:,} messages")
        for label, run_id in runs:
            report.add(f"-- {label} run", "")
            rates[label] = end_to_end(app, opts, run_id, sink, worker, workdir, report)
        e2e = rates["one language"]
        report.add("end to end (enqueue -> last accepted)", f"{e2e:,.0f} msgs/s")
        if opts.languages:
            multi = rates["seven languages"]
            change = f"{(multi / e2e - 1) * 100:+.1f} %" if e2e else "?"
            report.add("end to end, seven languages", f"{multi:,.0f} msgs/s ({change})")
        if e2e and naive:
            report.add("ratio end to end / naive", f"{e2e / naive:.1f}x")
        if not opts.verify:  # the recording sink would count its recipients as strays
            with app.app_context():
                opts.cli_sent = cli_send.measure(worker.env, sink, worker.log, e2e, report)
        peaks = {f"bench (pid {os.getpid()})": peak_rss_kib(os.getpid())}
        peaks.update(worker.peak_rss_kib())
        peaks[f"sink (pid {sink.proc.pid if sink.proc else '-'})"] = sink.rss_peak_kib()
    finally:
        worker.stop()
    for name, kib in peaks.items():
        report.add(f"peak RSS {name}", f"{kib / 1024:.0f} MiB" if kib else "?")
    sink.stop()
    report.add("sink", sink.kind + (", recording every message" if opts.verify else ", counting"))
    check_sink(app, opts, [run_id for _, run_id in runs], sink, report)
    if opts.profile:
        report.notes.append(profile_summary(opts, workdir, worker, e2e))
    if opts.fanout_n:
        with app.app_context():
            fanout_only(opts.fanout_n, report)


def setup_database(opts: Options, extras: int) -> int:
    if db.engine.dialect.name == "postgresql":  # also whatever an older schema left behind
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
    else:
        db.drop_all()
    db.create_all()
    if opts.sqlite_wal and db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA journal_mode=WAL"))  # persists in the file
    articles = seed.make_articles()
    mailing_list = seed.seed_list("weekly", opts.n, extras)
    digest = seed.make_digest(mailing_list, articles)
    db.session.commit()
    return digest.id


def code_version() -> str:
    """The commit measured (read-only git), '-dirty' when the tree has changes."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def describe_database() -> str:
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        mode = db.session.scalar(text("PRAGMA journal_mode"))
        return f"SQLite (file, journal_mode={mode})"
    version = db.session.scalar(text("SHOW server_version"))
    return f"{dialect} {version}"


def fan_out(digest_id: int) -> int:
    count = outbox.start(digest_id)
    db.session.commit()
    return int(count or 0)


def message_size(digest_id: int) -> str:
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    subscriber = db.session.scalars(select(Subscriber).limit(1)).one()
    template = compose.message_template(digest)
    slots = recipient_slots(subscriber, digest.mailing_list)
    data = template.render(subscriber.email, "<x@example.org>", slots)
    html, text_ = len(digest.rendered_html or "") / 1024, len(digest.rendered_text or "") / 1024
    return f"{len(data) / 1024:.1f} KiB on the wire (HTML {html:.1f} KiB + text {text_:.1f} KiB)"


def naive_baseline(app: Flask, digest_id: int, sink: Sink, count: int) -> float:
    """Messages per second with a full render and a new SMTP connection per message."""
    if count <= 0:
        return 0.0
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    sample = db.session.scalars(select(Subscriber).order_by(Subscriber.id).limit(count)).all()
    sender, signer = app.config["MAIL_FROM"], compose.dkim_signer()
    start = time.perf_counter()
    for i, subscriber in enumerate(sample):
        rendered = render_digest(digest)
        slots = recipient_slots(subscriber, digest.mailing_list)
        html, text_ = fill_slots(rendered, slots)
        email = Email(
            to=subscriber.email,
            subject=rendered.subject,
            text=text_,
            html=html,
            sender=sender,
            headers=list_headers(digest.mailing_list, slots["unsubscribe_url"]),
        )
        data = signer.sign(email.as_bytes()) if signer else email.as_bytes()
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
            smtp.sendmail(email.envelope_sender, [NAIVE_RCPT.format(i)], data)
    return len(sample) / (time.perf_counter() - start)


def start_worker(opts: Options, settings: dict[str, Any], workdir: Path) -> Worker:
    # Only the settings the benchmark chooses: none of the caller's MAILER_*, FLASK_* or
    # ENV_SETTINGS variables.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAILER_", "FLASK_")) and k not in default_config.ENV_SETTINGS
    }
    env.update({k: str(v) for k, v in settings.items()})
    env.update({"MAILER_DOTENV": "/nonexistent", "RATELIMIT_ENABLED": "off"})
    app = "worker"
    if opts.profile == "cprofile":
        env["BENCH_PROFILE_DIR"] = str(workdir / "pstats")
        (workdir / "pstats").mkdir()
        app = "bench.profiled_worker"
    worker = Worker(env, workdir / "worker.log", opts.concurrency, app=app)
    print(f"starting celery -A {app} worker --concurrency {opts.concurrency}")
    worker.start()
    return worker


def end_to_end(
    app: Flask,
    opts: Options,
    digest_id: int,
    sink: Sink,
    worker: Worker,
    workdir: Path,
    report: Report,
) -> float:
    """Enqueue the batches; wait for N messages at the sink and the digest `sent`; msgs/s."""
    spy = None
    if opts.profile == "py-spy":
        assert worker.proc is not None
        spy = PySpy(worker.proc.pid, workdir / "py-spy.txt")
        time.sleep(1.0)  # let it attach before the clock starts
    target = sink.count + opts.n
    watched = {**worker.processes(), f"sink (pid {sink.pid})": sink.pid, "bench": os.getpid()}
    if opts.redis_pid:
        watched[f"redis (pid {opts.redis_pid})"] = opts.redis_pid
    cpu_before = {label: cpu_seconds(pid) for label, pid in watched.items()}
    busy_before = machine_busy_seconds()
    postgres_before = cpu_by_command("postgres")
    start = time.perf_counter()
    with app.app_context():
        batches = enqueue_batches(digest_id)
    enqueued = time.perf_counter() - start
    print(f"enqueued {batches} batches in {enqueued:.2f} s; sending...", flush=True)
    while not sink.wait_for(target, 10):
        print(f"  {sink.count - target + opts.n:,} / {opts.n:,}", flush=True)
        if time.perf_counter() - max(sink.last_at, start) > STALL:
            report.fail(f"stuck: no message for {STALL:.0f} s\n{worker.output()[-3000:]}")
            break
    last = sink.last_at - start
    busy = machine_busy_seconds() - busy_before
    postgres = cpu_by_command("postgres")
    if postgres:  # the server's processes, the workers' backends among them
        spent = sum(t - postgres_before.get(pid, 0.0) for pid, t in postgres.items())
        report.add("CPU per message, PostgreSQL server", f"{spent / opts.n * 1e6:,.0f} µs")
    report.add("CPU per message, whole machine", f"{busy / opts.n * 1e6:,.0f} µs")
    for label, pid in watched.items():
        before, after = cpu_before[label], cpu_seconds(pid)
        if before is not None and after is not None:
            report.add(f"CPU per message, {label}", f"{(after - before) / opts.n * 1e6:,.0f} µs")
    if spy:
        spy.stop()
    sent_after = wait_until_sent(app, digest_id, start)
    report.add("batches / enqueue time", f"{batches} / {enqueued:.2f} s")
    report.add("enqueue -> last message accepted", f"{last:.2f} s")
    report.add("enqueue -> digest 'sent'", f"{sent_after:.2f} s" if sent_after else "not sent")
    if sent_after is None:
        report.fail("the digest's status did not become 'sent'")
    return opts.n / last if last > 0 and sink.count >= target else 0.0


def wait_until_sent(app: Flask, digest_id: int, start: float, timeout: float = 60) -> float | None:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            status = db.session.scalar(select(Digest.status).where(Digest.id == digest_id))
            db.session.rollback()  # end the read transaction: the workers are writing
            if status == DigestStatus.sent:
                return time.perf_counter() - start
            time.sleep(0.05)
    return None


def check_sink(
    app: Flask, opts: Options, digest_ids: list[int], sink: Sink, report: Report
) -> None:
    """The sink counted exactly N per digest (+ the baseline, the warm-up and the CLI runs);
    recording, one per recipient."""
    expected = opts.n * len(digest_ids) + opts.naive_n + opts.warmup_n + opts.cli_sent
    report.add("sink count (digests + baseline + CLI)", f"{sink.count:,} (expected {expected:,})")
    if sink.count != expected:
        report.fail(f"the sink accepted {sink.count} messages, not {expected}")
    with app.app_context():
        for digest_id in digest_ids:
            progress = control.progress(digest_id)
            report.add(
                f"digest {digest_id}: deliveries sent / failed / open",
                f"{progress.sent:,} / {progress.failed:,} / {progress.remaining:,}",
            )
            if progress.sent != opts.n:
                report.fail(f"{progress.sent} deliveries recorded sent, not {opts.n}")
        if not opts.verify:
            report.add("verification", "skipped (counts only; BENCH_VERIFY=1 to record)")
            return
        wanted = set(
            db.session.scalars(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.digest_id.in_(digest_ids))
            )
        )
    got = sink.recipients()
    digest_got = {
        r: c
        for r, c in got.items()
        if not r.endswith("@baseline.invalid") and not r.startswith("warm-")
    }
    twice = sum(1 for c in digest_got.values() if c > 1)
    missing = len(wanted - digest_got.keys())
    stray = len(digest_got.keys() - wanted)
    ok = len(wanted) == opts.n * len(digest_ids) and not (twice or missing or stray)
    report.add(
        "verification",
        f"{'passed' if ok else 'FAILED'}: {len(digest_got):,} distinct recipients, "
        f"{twice} twice, {missing} missing, {stray} unexpected",
    )
    if not ok:
        report.fail("recipient verification failed")


def profile_summary(opts: Options, workdir: Path, worker: Worker, e2e: float) -> str:
    if opts.profile == "cprofile":
        return cprofile_summary(workdir / "pstats", opts.n)
    if opts.profile == "py-spy" and e2e:
        busy = opts.concurrency * opts.n / e2e  # pool-process seconds spent on the digest
        return py_spy_summary(workdir / "py-spy.txt", busy, opts.n)
    return f"BENCH_PROFILE={opts.profile}: unknown (py-spy or cprofile), or nothing sent"


def fanout_only(count: int, report: Report) -> None:
    """Fan out a second digest to `count` recipients; time start() + commit only."""
    print(f"seeding {count} recipients for the fan-out-only measurement")
    articles = list(db.session.scalars(select(seed.Article)))
    mailing_list = seed.seed_list("fanout", count, 0)
    digest = seed.make_digest(mailing_list, articles)
    db.session.commit()
    made, seconds = timed(lambda: fan_out(digest.id))
    report.add(
        f"fan-out only, {count:,} recipients",
        f"{seconds:.2f} s ({made / seconds:,.0f} rows/s)",
    )
    if made != count:
        report.fail(f"the fan-out-only digest made {made} deliveries, not {count}")
    peak = peak_rss_kib(os.getpid()) or 0
    report.add("peak RSS bench after fan-out only", f"{peak / 1024:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
