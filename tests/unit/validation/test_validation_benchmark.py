"""benchmarks/validation.py keeps working: --quick in a subprocess, last stdout line is its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_validation_benchmark_quick():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "validation.py"), "--quick", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "validation" and result["rows"] == 20_000 and result["columns"] == 20
    assert result["expectations"] == 40 and result["baseline"].startswith("great-expectations 1.")
    for key in ("driftline_s", "baseline_s", "ratio", "peak_rss_mb"):
        assert result[key] > 0
    assert result["outcomes"] == ["baseline:True", "driftline:True"]
