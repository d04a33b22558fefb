"""Imports, once per worker pool, what every Driftline task process would otherwise import again.

Under Airflow 3.3's LocalExecutor a task runs in a process that the executor's worker makes with
a bare `os.fork()` (task-sdk `WatchedSubprocess.start`): modules already imported in the worker
are inherited, copy-on-write, for free. The workers themselves come from the scheduler through
`multiprocessing`; with the `forkserver` start method Airflow imports `[core]
mp_forkserver_preload` in the fork server first. So a deployment sets

    AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver
    AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow.executors.local_executor,driftline.preload

and each task keeps its own process (retries, logs, timeouts per step) while paying the heavy
imports once per scheduler start instead of once per task. Nothing here runs at DAG-parse time;
the scheduler process itself stays lean (only the fork server imports this).

Only third-party libraries are preloaded, never Driftline's own modules: a task process parses
its DAG file and imports Driftline afresh, so a new config or a changed DAG takes effect without a
scheduler restart (a preloaded `driftline.factory` would build the DAG as it was when the
scheduler started: "Task not found in Dag"). Upgrading these libraries needs a scheduler restart,
as any deploy of the worker image does.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

# What the pipeline's steps import (profiled with `python -X importtime` under the scheduler).
MODULES: tuple[str, ...] = (
    "pandas",
    "pyarrow.parquet",
    "numpy",
    "scipy.stats",
    "mlflow",
    "mlflow.tracking",
    "mlflow.sklearn",
    "sklearn.ensemble",
    "sklearn.metrics",
    "great_expectations",
    "evidently",
    "evidently.presets",
)


def preload(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import `modules`; returns the ones that could not be imported (logged, never fatal)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module a deployment does not install: its tasks import it later
            log.warning("driftline.preload: cannot import %s (%s)", name, exc)
            missing.append(name)
    return missing


preload()
