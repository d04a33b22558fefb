"""Loading a champion in a task process writes no deprecation flood, and MLflow logs at its own level.

Runs in subprocesses without pytest's warning filters (pytest ignores DeprecationWarning), with
the Airflow modules a task process has loaded, as the task runner would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

LOG_MODEL = textwrap.dedent(
    """
    import mlflow, mlflow.sklearn, numpy as np, skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier
    X = np.random.default_rng(0).random((200, 3)); y = (X[:, 0] > 0.5).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", serialization_format="skops",
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)),
            registered_model_name="loadme")
    """
)

# The modules whose deprecated attribute aliases skops' walk used to touch under the scheduler.
TASK_PROCESS = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.captureWarnings(True)
    import airflow.sdk, airflow.models, airflow.utils.timezone, airflow.utils.trigger_rule
    import airflow.utils.operator_resources, airflow.utils.entry_points, airflow.serialization.serde
    import driftline.operators.drift, driftline.operators.registry
    import os
    from driftline.mlflow_store import MlflowStore
    from driftline.registry.models import load_model_version
    import mlflow
    mlflow_logger = logging.getLogger("mlflow")
    print("MLFLOW_HANDLERS", len(mlflow_logger.handlers), mlflow_logger.propagate)
    model = load_model_version(MlflowStore(os.environ["MLFLOW_TRACKING_URI"]), "loadme", 1)
    print("LOADED", type(model).__name__)
    """
)


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_champion_load_writes_no_deprecation_flood(tmp_path, monkeypatch):
    # Only this test's store: earlier tests may leave MLFLOW_* (a registry URI, a server) behind.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS" and not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env["DRIFTLINE_HOME"] = str(tmp_path / "home")
    monkeypatch.chdir(tmp_path)  # the default artifact root ./mlruns lands in tmp_path
    logged = _run(LOG_MODEL, env)
    assert logged.returncode == 0, logged.stderr[-3000:]

    task = _run(TASK_PROCESS, env)
    assert task.returncode == 0, task.stderr[-3000:]
    assert "LOADED HistGradientBoostingClassifier" in task.stdout
    assert "MLFLOW_HANDLERS 0 True" in task.stdout  # MLflow logs through the task log, at its level
    log = (task.stdout + task.stderr).splitlines()  # Airflow's structlog writes to stdout
    warnings = [line for line in log if "Warning" in line or "deprecated" in line]
    assert len(warnings) <= 5, "\n".join(warnings[:20])
    assert not any("skops" in line for line in warnings)
