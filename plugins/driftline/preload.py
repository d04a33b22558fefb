"""Imports, once per worker pool, what every Driftline task process would otherwise import again.

Under Airflow 3.3's LocalExecutor a task runs in a process that the executor's worker makes with
a bare `os.fork()` (task-sdk `WatchedSubprocess.start`): modules already imported in the worker
are inherited, copy-on-write, for free. The workers themselves come from the scheduler through
`multiprocessing`; with the `forkserver` start method Airflow imports `[core]
mp_forkserver_preload` in the fork server first. So a deployment sets

    AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver
    AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow.executors.local_executor,driftline.preload

(`driftline.settings.PRELOAD_ENV`; `make up` sets it) and each task keeps its own process (retries, logs, timeouts per step) while paying the heavy
imports once per scheduler start instead of once per task. Nothing here runs at DAG-parse time;
the scheduler process itself stays lean (only the fork server imports this).

Only third-party libraries are preloaded, never Driftline's own modules: a task process parses
its DAG file and imports Driftline afresh, so a new config or a changed DAG takes effect without a
scheduler restart (a preloaded `driftline.factory` would build the DAG as it was when the
scheduler started: "Task not found in Dag"). Upgrading these libraries needs a scheduler restart,
as any deploy of the worker image does.
"""

from __future__ import annotations

import gc
import importlib
import logging
import warnings

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
    # loading a registered model: skops.io imports sklearn.utils._testing and with it pytest (1.6 s)
    "skops.io",
    "boto3",
    "botocore.client",
)


def preload(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import `modules`, then freeze the heap; returns the modules that could not be imported.

    A missing module is logged, never fatal. `gc.freeze()` moves everything imported so far to
    the permanent generation: the collector of each forked task process then never walks (and
    so never writes to, and copies) the pages that hold those objects.
    """
    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skops walks Airflow's deprecated module aliases on import
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # a module a deployment does not install: its tasks import it later
                log.warning("driftline.preload: cannot import %s (%s)", name, exc)
                missing.append(name)
    gc.collect()
    gc.freeze()
    return missing


preload()
