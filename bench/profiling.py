"""Where worker time goes during the delivery benchmark (BENCH_PROFILE=py-spy or cprofile).

py-spy samples the pool processes from outside (wall clock, waits included: `--idle`); only
stacks inside `send_batch` count, so the figures are per message of the digest. cProfile
runs inside each pool process (bench.profiled_worker) and counts calls exactly, but adds
overhead to every Python call. Install py-spy for yourself (`.venv/bin/pip install py-spy`);
it is not a dependency of the project.
"""

from __future__ import annotations

import pstats
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record --subprocesses --idle --format raw` on the worker's process tree."""

    def __init__(self, pid: int, output: Path, rate: int = 200) -> None:
        binary = find_py_spy()
        if binary is None:
            raise RuntimeError(
                "BENCH_PROFILE=py-spy: install it first (.venv/bin/pip install py-spy)"
            )
        self.output = output
        self.log = output.with_suffix(".log")
        command = [binary, "record", "--pid", str(pid), "--subprocesses", "--idle"]
        command += ["--rate", str(rate), "--format", "raw", "--output", str(output)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _short_path(path: str) -> str:
    """A path without the noise before the package: 'sqlalchemy/orm/session.py'."""
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if "/lib/python3." in path:
        return path.split("/lib/python3.", 1)[1].split("/", 1)[-1]
    return path


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['func']} ({_short_path(match['file'])})"


def py_spy_summary(raw: Path, busy_seconds: float, messages: int, top: int = 30) -> str:
    """Inclusive and self time per function within send_batch, as µs per message."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if "send_batch" not in stack or not count.isdigit():
            continue
        frames = stack.split(";")
        start = next(i for i, f in enumerate(frames) if f.startswith("send_batch "))
        names = [_short(f) for f in frames[start:]]
        n = int(count)
        total += n
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    if not total:
        return "py-spy: no samples inside send_batch (see the .log next to the output)"
    per_msg = busy_seconds * 1e6 / messages  # µs of pool-process time per message
    lines = [f"py-spy, wall time inside send_batch ({total} samples, ~{per_msg:.0f} µs/message):"]
    lines.append(f"{'inclusive µs/msg':>17} {'%':>5}  function")
    for name, n in inclusive.most_common(top):
        lines.append(f"{n / total * per_msg:>17.0f} {n / total * 100:>5.1f}  {name}")
    lines.append(f"{'self µs/msg':>17} {'%':>5}  function")
    for name, n in own.most_common(top // 2):
        lines.append(f"{n / total * per_msg:>17.0f} {n / total * 100:>5.1f}  {name}")
    return "\n".join(lines)


def cprofile_summary(directory: Path, messages: int, top: int = 30) -> str:
    """Merged pstats of every pool process: top functions by cumulative and own time."""
    files = sorted(str(p) for p in directory.glob("*.pstats"))
    if not files:
        return "cProfile: no profiles written"
    stats = pstats.Stats(*files)
    entries = stats.stats  # type: ignore[attr-defined]
    rows = [
        (ct, tt, nc, f"{func} ({_short_path(file)}:{line})")
        for (file, line, func), (_cc, nc, tt, ct, _callers) in entries.items()
    ]
    lines = [f"cProfile, {len(files)} pool processes, per message of {messages}:"]
    lines.append(f"{'cumulative µs/msg':>18} {'own µs/msg':>11} {'calls/msg':>10}  function")
    for ct, tt, nc, name in sorted(rows, reverse=True)[:top]:
        lines.append(
            f"{ct * 1e6 / messages:>18.0f} {tt * 1e6 / messages:>11.0f} "
            f"{nc / messages:>10.2f}  {name}"
        )
    lines.append(f"{'own µs/msg':>18}  function")
    for _ct, tt, _nc, name in sorted(rows, key=lambda r: r[1], reverse=True)[: top // 2]:
        lines.append(f"{tt * 1e6 / messages:>18.0f}  {name}")
    return "\n".join(lines)
