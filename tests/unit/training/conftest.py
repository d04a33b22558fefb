"""Fixtures for training tests: a small churn window as a validated snapshot, a SQLite MLflow store."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
START = dt.date(2026, 1, 1)
DAYS = 8


@pytest.fixture(scope="session")
def churn_frame(tmp_path_factory: pytest.TempPathFactory, churn_generator: Any) -> pd.DataFrame:
    """Eight clean days of the example churn data, 300 rows a day."""
    out = tmp_path_factory.mktemp("churn-data")
    files = churn_generator.generate(out, START, DAYS, rows=300)
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def window_facts() -> dict[str, Any]:
    end = START + dt.timedelta(days=DAYS)
    return {
        "window_start": f"{START.isoformat()}T00:00:00+00:00",
        "window_end": f"{end.isoformat()}T00:00:00+00:00",
        "window_kind": "rolling",
        "partitions": [str(START + dt.timedelta(days=i)) for i in range(DAYS)],
    }


def _make_snapshot(df: pd.DataFrame, home: Path, name: str = "training", status: str = "validated") -> Any:
    from driftline.data.snapshots import mark, snapshot_uri, write_snapshot

    ref = write_snapshot(
        df, snapshot_uri(str(home / "snapshots"), "churn", "manual__1", name), window_facts()
    )
    return mark(ref, status) if status != "raw" else ref


@pytest.fixture
def make_snapshot() -> Any:
    """`make_snapshot(df, home, name="training", status="validated") -> SnapshotRef`."""
    return _make_snapshot


@pytest.fixture
def validated_snapshot(driftline_home: Path, churn_frame: pd.DataFrame) -> Any:
    return _make_snapshot(churn_frame, driftline_home)


@pytest.fixture(scope="session")
def _mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated MLflow SQLite database per session (migrations take seconds), copied per test."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(tmp_path: Path, _mlflow_template_db: Path) -> str:
    """A fresh, real SQLite-backed MLflow tracking store for one test."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(_mlflow_template_db, db)
    return f"sqlite:///{db}"


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Any:
    """OpenMP/BLAS on one thread: the test machine is small and shared (spinning threads thrash)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def config(example_config: Any) -> Any:
    """The example churn config with a quicker estimator."""
    cfg = example_config.model_copy(deep=True)
    cfg.training.estimator.params = {"max_iter": 30, "learning_rate": 0.1, "random_state": 7}
    return cfg
