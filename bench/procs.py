"""Celery worker and gunicorn processes (benchmarks, tests); peak memory of process trees."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of a live process, in KiB; None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used so far, in seconds; None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_command(command: str) -> dict[int, float]:
    """CPU seconds so far of every live process whose command is `command` (e.g. postgres)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found[int(entry.name)] = cpu_seconds(int(entry.name)) or 0.0
            except OSError:
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle since boot (all cores, from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


class Worker:
    """`celery -A <app> worker -Q bulk,celery,mail --concurrency C` as a child process."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int, app: str = "worker"):
        self.env, self.log, self.concurrency, self.app = env, log, concurrency, app
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "-Q",
            "bulk,celery,mail",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{os.getpid()}@%h",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("the Celery worker did not start:\n" + self.output()[-3000:])

    def peak_rss_kib(self) -> dict[str, int | None]:
        """VmHWM of the worker's main process and of each pool process, read while alive."""
        return {label: peak_rss_kib(pid) for label, pid in self.processes().items()}

    def processes(self) -> dict[str, int]:
        """The worker's main process and each pool process, by label."""
        assert self.proc is not None
        found = {f"worker main (pid {self.proc.pid})": self.proc.pid}
        for n, pid in enumerate(descendants(self.proc.pid), 1):
            found[f"worker child {n} (pid {pid})"] = pid
        return found

    def stop(self) -> None:
        """Warm shutdown (SIGTERM): pool processes say QUIT to the SMTP server and exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` as a child process, as the README runs it."""

    def __init__(
        self, env: dict[str, str], log: Path, port: int, extra: list[str], app: str = "wsgi:app"
    ) -> None:
        self.env, self.log, self.port, self.extra, self.app = env, log, port, extra, app
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        command += ["--bind", f"127.0.0.1:{self.port}", *self.extra, self.app]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Booting worker" in self.output():
                try:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start:\n" + self.output()[-3000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
