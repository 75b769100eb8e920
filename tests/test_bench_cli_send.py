"""The operator's-send figure of `make bench` reads the worker's log for the fan-out's time."""

from __future__ import annotations

from datetime import datetime

from bench.cli_send import _fanned_out_at, mailer_command

LOG = (
    "[2026-11-30 20:30:01,250: INFO/ForkPoolWorker-1] digest 3: 5000 deliveries in 10 batches\n"
    "[2026-11-30 20:30:02,500: INFO/ForkPoolWorker-2] digest 4: 5000 deliveries in 10 batches\n"
)


def test_the_fan_out_time_is_read_from_the_worker_log() -> None:
    expected = datetime(2026, 11, 30, 20, 30, 2, 500_000).timestamp()
    assert _fanned_out_at(LOG, 4) == expected
    assert _fanned_out_at(LOG, 5) is None


def test_the_cli_is_the_console_script_of_this_environment() -> None:
    assert mailer_command().endswith("/mailer")
