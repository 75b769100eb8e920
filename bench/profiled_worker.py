"""`celery -A bench.profiled_worker worker`: the project's worker with cProfile in each task.

Used by the delivery benchmark when BENCH_PROFILE=cprofile; each pool process writes its
cumulative profile to $BENCH_PROFILE_DIR/<pid>.pstats after every task. With
BENCH_PROFILE_CPU=1 it counts CPU time (time.process_time) instead of wall time, so waits
for the SMTP server and the database drop out and what is left is the work per message.
"""

from __future__ import annotations

import cProfile
import os
import time
from typing import Any

from celery.signals import task_postrun, task_prerun

from worker import celery, flask_app

__all__ = ["celery", "flask_app"]

_profile = (
    cProfile.Profile(time.process_time)
    if os.environ.get("BENCH_PROFILE_CPU")
    else cProfile.Profile()
)


@task_prerun.connect
def _start(**_kwargs: Any) -> None:
    _profile.enable()


@task_postrun.connect
def _stop(**_kwargs: Any) -> None:
    _profile.disable()
    _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"], f"{os.getpid()}.pstats"))
