"""load_current / load_training / validate_* run on compute.engine duckdb through the operators."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from driftline.config.models import ComputeSection
from driftline.data.snapshots import read_manifest, read_snapshot
from driftline.exceptions import ValidationFailedError
from driftline.operators.load import LoadWindowOperator
from driftline.operators.validate import ValidateSnapshotOperator

ROWS = 300


@pytest.fixture
def churn_data(driftline_home: Path, churn_generator) -> Path:
    churn_generator.generate(
        driftline_home / "data", dt.date(2026, 1, 1), 20, rows=ROWS, corrupt_day=dt.date(2026, 1, 17)
    )
    return driftline_home / "data"


def context(task_id: str, day: int) -> dict:
    start = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {},
        "ti": SimpleNamespace(
            dag_id="driftline__churn",
            run_id=f"scheduled__2026-01-{day:02d}T00:00:00+00:00",
            task_id=task_id,
            try_number=1,
        ),
    }


@pytest.fixture
def duck_config(example_config):
    cfg = example_config.model_copy(deep=True)
    cfg.compute = ComputeSection(engine="duckdb", memory_limit_mb=512)
    return cfg


def test_load_and_validate_on_duckdb_give_the_pandas_rows_and_verdict(
    example_config, duck_config, churn_data
):
    for window in ("current", "training"):
        pandas_ref = LoadWindowOperator(model_config=example_config, window=window).execute(
            context(f"load_{window}", 10)
        )
        duck_ref = LoadWindowOperator(model_config=duck_config, window=window).execute(
            context(f"load_{window}", 10)
        )
        assert duck_ref["rows"] == pandas_ref["rows"] and duck_ref["status"] == "raw"
        assert duck_ref["facts"]["partitions"] == pandas_ref["facts"]["partitions"]
        assert duck_ref["facts"]["engine"] == "duckdb"
        validated = ValidateSnapshotOperator(
            model_config=duck_config, snapshot=duck_ref, window=window
        ).execute(context(f"validate_{window}", 10))
        assert validated["status"] == "validated" == read_manifest(validated["uri"]).status
        assert validated["facts"]["validation"]["success"] is True
        assert len(read_snapshot(validated["uri"])) == pandas_ref["rows"]


def test_a_corrupt_day_is_quarantined_on_duckdb(duck_config, churn_data):
    ref = LoadWindowOperator(model_config=duck_config, window="current").execute(context("load_current", 17))
    op = ValidateSnapshotOperator(model_config=duck_config, snapshot=ref, window="current")
    with pytest.raises(ValidationFailedError, match="failed validation"):
        op.execute(context("validate_current", 17))
