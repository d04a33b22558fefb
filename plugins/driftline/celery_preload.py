"""Celery settings that make each Celery worker import the pipeline's heavy libraries once.

Under the CeleryExecutor a task runs in a process forked (task-sdk `supervise`) from a Celery pool
process, itself forked from the worker's main process. Celery's `import_modules` signal fires in
that main process before the pool starts (the Celery provider preloads a few Airflow modules there
and then freezes the GC), so whatever is imported then is inherited copy-on-write by every task:
the same effect as `driftline.preload` in the LocalExecutor's fork server. Enable it with

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=driftline.celery_preload.CELERY_CONFIG

(docker/docker-compose.yaml does). `CELERY_CONFIG` is Airflow's default Celery configuration,
unchanged; importing this module only connects the signal, which fires in workers alone, so the
scheduler and API server import nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

PRELOAD_MODULE = "driftline.preload"

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


def preload_in_worker(*args: Any, **kwargs: Any) -> None:
    """The `import_modules` receiver: import `driftline.preload` (which imports the libraries)."""
    importlib.import_module(PRELOAD_MODULE)


import_modules.connect(preload_in_worker, weak=False)
