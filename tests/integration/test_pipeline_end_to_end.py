"""The example pipeline end to end: the `make demo` story, run as a user runs it, asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_story(tmp_path):
    home = tmp_path / "driftline"
    env = {
        **os.environ,
        "DRIFTLINE_HOME": str(home),
        "DRIFTLINE_DATA": str(home / "data"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    result = subprocess.run(
        [sys.executable, "-m", "driftline.demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    days = out.split("\n== ")
    day1, quiet, corrupt, drift, persists = days[1:6]
    assert "day 1: no champion yet" in day1
    assert "retrain=True reasons=['no champion: there is no model in production yet']" in day1
    assert "evaluate_gate      promoted: no champion" in day1
    assert "-> run success" in day1
    assert (
        "retrain=False" in quiet
        and "no retrain: champion kept" in quiet
        and "train              skipped" in quiet
    )
    assert "validate_current   FAILED" in corrupt and "quarantined at" in corrupt
    assert "column 'plan', 200 unexpected of 2000" in corrupt
    assert "check_drift        upstream_failed" in corrupt and "-> run failed" in corrupt
    assert "DATASET DRIFT" in drift and "retrain=True reasons=['data drift:" in drift
    assert "left out 2000 rows of quarantined batch 2026-01-17" in persists
    assert "evaluate_gate      promoted: challenger roc_auc" in persists
    assert "rollback           champion v3 -> v1" in out
    assert "aliases {'champion': 1, 'previous-champion': 3}" in out
    assert (home / "demo" / "alerts" / "alerts.jsonl").read_text().count("validation_failed") == 1
