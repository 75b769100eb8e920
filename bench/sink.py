"""SMTP sinks on loopback for the delivery benchmark: Postfix's smtp-sink, else aiosmtpd.

Both count accepted messages as they arrive (a reader thread keeps the count and the time of
the last one) and, when asked to record, keep every message's envelope recipients so the
benchmark can check that each recipient got exactly one message.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

from mailer.dev.runner import free_port

SMTP_SINK = ("/usr/sbin/smtp-sink", "/usr/bin/smtp-sink")
RCPT_LINE = re.compile(rb"^X-Rcpt-Args: <?([^>\s]*)>?", re.MULTILINE)
COUNTER = re.compile(rb"mesg=(\d+)")
ROOT = Path(__file__).resolve().parent.parent


def find_smtp_sink() -> str | None:
    """Postfix's smtp-sink, if installed (scripts/ensure-smtp-sink.sh installs it)."""
    explicit = os.environ.get("SMTP_SINK")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    return next((p for p in SMTP_SINK if os.access(p, os.X_OK)), None) or shutil.which("smtp-sink")


class Sink:
    """A sink process whose stdout carries 'mesg=<count>' counters, one per accepted message."""

    kind = ""

    def __init__(self, workdir: Path, record: bool) -> None:
        self.workdir, self.record = workdir, record
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.count = 0
        self.last_at = 0.0  # time.perf_counter() when the count last grew
        self._changed = threading.Condition()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, cwd=ROOT)
        assert self.proc.stdout is not None
        threading.Thread(target=self._read_counters, args=(self.proc.stdout,), daemon=True).start()
        _wait_for_port(self.port, self.proc)

    def _read_counters(self, out: IO[bytes]) -> None:
        tail = b""
        while chunk := out.read1(65536):  # type: ignore[attr-defined]
            now = time.perf_counter()
            # Records end in "\r" (a terminal's status line): parse only complete ones.
            records, _, tail = (tail + chunk).rpartition(b"\r")
            counts = COUNTER.findall(records[-64:])
            if counts:
                with self._changed:
                    value = int(counts[-1])
                    if value != self.count:
                        self.count, self.last_at = value, now
                    self._changed.notify_all()
            # A wake-up per message cost this process ~35 µs of CPU per message, taken from
            # the machine under test; reading every 2 ms batches them. The time of the last
            # message is then late by up to 2 ms, which can only lower the figure.
            time.sleep(0.002)

    def wait_for(self, target: int, timeout: float) -> bool:
        """Wait until the count reaches `target` or `timeout` seconds pass; True if reached."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.count < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def rss_peak_kib(self) -> int | None:
        from bench.procs import peak_rss_kib

        return peak_rss_kib(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def recipients(self) -> Counter[str]:
        """Envelope recipients of every recorded message (after stop())."""
        raise NotImplementedError


class PostfixSink(Sink):
    """`smtp-sink -c`: counters on stdout; with `record`, `-D` appends every message to a file."""

    kind = "postfix smtp-sink"

    def __init__(self, workdir: Path, record: bool, binary: str) -> None:
        super().__init__(workdir, record)
        self.binary = binary
        self.dump_dir = workdir / "sink"
        self.dump_dir.mkdir()
        self.user = "nobody" if os.geteuid() == 0 else None
        if self.user:  # smtp-sink drops root for `-u`; the dump is written as that user
            shutil.chown(self.dump_dir, user=self.user)

    def command(self) -> list[str]:
        cmd = [self.binary, "-c", "-m", "1024"]
        if self.user:
            cmd += ["-u", self.user]
        if self.record:
            cmd += ["-D", str(self.dump_dir / "dump")]
        return [*cmd, f"127.0.0.1:{self.port}", "1024"]

    def recipients(self) -> Counter[str]:
        found: Counter[str] = Counter()
        dump = self.dump_dir / "dump"
        if not dump.exists():
            return found
        # The X-Rcpt-Args line sits in the first write of each transaction, whole.
        with dump.open("rb") as f:
            tail = b""
            while chunk := f.read(1 << 22):
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                found.update(m.decode() for m in RCPT_LINE.findall(data, 0, cut))
                tail = data[cut:]
        return found


class AiosmtpdSink(Sink):
    """Fallback: bench.aiosink in its own process (Python: the sink may be the bottleneck)."""

    kind = "aiosmtpd (limited by the sink)"

    def __init__(self, workdir: Path, record: bool) -> None:
        super().__init__(workdir, record)
        self.rcpt_file = workdir / "recipients.txt"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "bench.aiosink", str(self.port)]
        return [*cmd, str(self.rcpt_file)] if self.record else cmd

    def recipients(self) -> Counter[str]:
        if not self.rcpt_file.exists():
            return Counter()
        return Counter(self.rcpt_file.read_text().split())


def start_sink(workdir: Path, record: bool) -> Sink:
    """Postfix's smtp-sink when installed, else the aiosmtpd fallback; started."""
    binary = None if os.environ.get("BENCH_SINK") == "aiosmtpd" else find_smtp_sink()
    sink = PostfixSink(workdir, record, binary) if binary else AiosmtpdSink(workdir, record)
    sink.start()
    return sink


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the SMTP sink exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the SMTP sink did not start")
