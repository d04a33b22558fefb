"""The training core runs where Airflow is not installed (the training image): `airflow` is made
unimportable and `python -m driftline.training` trains the example model on the example data."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]

RUNNER = textwrap.dedent(
    """
    import sys

    class NoAirflow:
        def find_spec(self, name, path=None, target=None):
            if name == "airflow" or name.startswith("airflow."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoAirflow())
    import driftline.training
    from driftline.training.entrypoint import main

    code = main(sys.argv[1:])
    print("AIRFLOW_MODULES", sorted(m for m in sys.modules if m.split(".")[0] == "airflow"))
    sys.exit(code)
    """
)


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFTLINE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )


def test_training_runs_with_airflow_unimportable(
    config: Any, validated_snapshot: Any, tracking_uri: str, driftline_home: Path
) -> None:
    from mlflow.tracking import MlflowClient

    b64 = base64.b64encode(config.model_dump_json().encode()).decode()
    xcom = driftline_home / "xcom" / "return.json"
    args = ["--config-b64", b64, "--snapshot", validated_snapshot.uri, "--tracking-uri", tracking_uri]
    identity = ["--dag-id", "driftline__churn", "--run-id", "manual__1", "--task-id", "train"]
    proc = _run([*args, *identity, "--try-number", "1", "--xcom-path", str(xcom)], driftline_home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "AIRFLOW_MODULES []"
    result = json.loads(lines[-2])
    assert json.loads(xcom.read_text()) == result
    assert result["snapshot_sha256"] == validated_snapshot.sha256 and result["metrics"]["roc_auc"] > 0.5
    run = MlflowClient(tracking_uri=tracking_uri).get_run(result["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["airflow.task_id"] == "train"
    assert float(run.data.metrics["train_roc_auc"]) > 0 and run.data.params["train_rows"]


def test_bad_input_exits_2_with_airflow_unimportable(
    config: Any, validated_snapshot: Any, tracking_uri: str, driftline_home: Path
) -> None:
    broken = json.loads(config.model_dump_json())
    broken["training"]["validation_dayz"] = 2  # a typo: the config model forbids unknown keys
    proc = _run(
        [
            "--config-json",
            json.dumps(broken),
            "--snapshot",
            validated_snapshot.uri,
            "--tracking-uri",
            tracking_uri,
        ],
        driftline_home,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    # the error path formats the pydantic error (it used to crash with AttributeError here)
    assert "--config-json: 1 error(s)" in proc.stderr and "training.validation_dayz" in proc.stderr
    assert "AttributeError" not in proc.stderr and proc.stdout.strip() == "AIRFLOW_MODULES []"
