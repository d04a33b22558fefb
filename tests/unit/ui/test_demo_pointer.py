"""`make demo` tells where the page shows its history, and the page reads the folder the demo writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from driftline import demo
from driftline.ui.sources import DEMO, demo_home


def test_the_page_reads_the_demo_home_the_demo_writes(tmp_path: Path) -> None:
    env = {"DRIFTLINE_HOME": str(tmp_path)}
    assert demo.isolate(env) == demo_home(tmp_path).resolve()
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{demo_home(tmp_path).resolve() / 'mlflow' / 'mlflow.db'}"


def test_demo_prints_where_the_page_is(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_AIRFLOW_PORT", "8181")
    demo._print_page()
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8181/plugin/driftline" in out
    assert f"http://127.0.0.1:8181/driftline/models/churn?source={DEMO}" in out
