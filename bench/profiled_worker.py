"""`celery -A bench.profiled_worker worker`: the project's worker with cProfile in each task.

Used by the delivery benchmark when BENCH_PROFILE=cprofile; each pool process writes its
cumulative profile to $BENCH_PROFILE_DIR/<pid>.pstats after every task.
"""

from __future__ import annotations

import cProfile
import os
from typing import Any

from celery.signals import task_postrun, task_prerun

from worker import celery, flask_app

__all__ = ["celery", "flask_app"]

_profile = cProfile.Profile()


@task_prerun.connect
def _start(**_kwargs: Any) -> None:
    _profile.enable()


@task_postrun.connect
def _stop(**_kwargs: Any) -> None:
    _profile.disable()
    _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"], f"{os.getpid()}.pstats"))
