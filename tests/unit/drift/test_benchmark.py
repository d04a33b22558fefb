"""benchmarks/drift.py --quick still runs and prints its JSON line (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "drift.py"


def test_quick_benchmark_prints_its_figures() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--rows", "5000", "--columns", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in (
        "benchmark",
        "rows",
        "columns",
        "driftline_s",
        "baseline_s",
        "baseline",
        "ratio",
        "peak_rss_mb",
        "drifted_expected",
        "drifted_driftline",
        "drifted_baseline",
        "same_decisions",
        "report_s",
        "report_bytes",
    ):
        assert key in figures, key
    assert figures["benchmark"] == "drift" and figures["rows"] == 5000 and figures["columns"] == 5
    assert (
        figures["drifted_driftline"] == figures["drifted_baseline"] == figures["drifted_expected"] == ["f00"]
    )
    assert figures["same_decisions"] is True


CALIBRATION = SCRIPT.parent / "stats_calibration.py"


def test_calibration_table_script_prints_its_table_and_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(CALIBRATION), "--quick", "--reps", "4", "--methods", "ks,chisquare_4,dataset"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["benchmark"] == "stats_calibration" and figures["reps"] == 4
    assert {(r["method"], r["reference_rows"], r["current_rows"]) for r in figures["rows"]} == {
        (m, ref, 200) for m in ("ks", "chisquare_4", "dataset") for ref in (200, 1000)
    }
    for row in figures["rows"]:
        assert 0 <= row["false_alarm"] <= 1 and row["false_alarm_se"] >= 0 and 0 <= row["power"] <= 1
    assert lines[0].startswith("| method | reference | current |")


ESTIMATION = SCRIPT.parent / "stats_estimation.py"


def test_estimation_simulation_prints_its_cells_and_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(ESTIMATION), "--quick", "--reps", "3"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "stats_estimation" and figures["reps"] == 3
    scenarios = {(c["task"], c["scenario"], c["metric"]) for c in figures["cells"]}
    assert ("binary", "concept", "roc_auc") in scenarios and ("regression", "covariate", "rmse") in scenarios
    for cell in figures["cells"]:
        assert 0 <= cell["coverage_95"] <= 1 and cell["bias_mc"] >= 0 and cell["mean_se"] > 0
