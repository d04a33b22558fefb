"""driftline.celery_preload: Airflow's own Celery app, configured through `[celery]
celery_config_options`, imports the preload in the worker's main process (before its pool forks)
and nowhere else. Run in a fresh interpreter: the Celery app and its signals are process-wide."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import sys

    from airflow.providers.celery.executors.celery_executor import app
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    import driftline.celery_preload as celery_preload

    # the provider built its app from our settings, which are Airflow's defaults unchanged
    assert app.conf.broker_url == DEFAULT_CELERY_CONFIG["broker_url"], app.conf.broker_url
    assert celery_preload.CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    # importing the settings (as the scheduler does) preloads nothing
    assert "driftline.preload" not in sys.modules and "evidently" not in sys.modules
    # a light stand-in for driftline.preload, whose real imports take tens of CPU seconds
    celery_preload.PRELOAD_MODULE = "xml.dom.minidom"
    assert "xml.dom.minidom" not in sys.modules
    app.loader.init_worker()  # what celery's WorkController does in the worker's main process
    assert "xml.dom.minidom" in sys.modules
    print("preloaded")
    """
)


def test_celery_worker_imports_the_preload_before_forking() -> None:
    env = dict(os.environ)
    env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "driftline.celery_preload.CELERY_CONFIG"
    env["PYTHONPATH"] = str(REPO_ROOT / "plugins")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("preloaded")
