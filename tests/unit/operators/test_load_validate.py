"""LoadWindowOperator and ValidateSnapshotOperator run through a minimal task context."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from driftline.assets import raw_window, validated_window
from driftline.data.snapshots import read_manifest, read_snapshot
from driftline.exceptions import SnapshotError, ValidationFailedError
from driftline.operators.load import LoadWindowOperator
from driftline.operators.validate import ValidateSnapshotOperator

REPO_ROOT = Path(__file__).resolve().parents[3]
ROWS = 300


@pytest.fixture
def churn_data(driftline_home: Path, churn_generator) -> Path:
    gen = churn_generator
    gen.generate(
        driftline_home / "data", dt.date(2026, 1, 1), 20, rows=ROWS, corrupt_day=dt.date(2026, 1, 17)
    )
    return driftline_home / "data"


def context(task_id: str, day: int, params: dict | None = None, run_id: str | None = None) -> dict:
    start = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": params or {},
        "ti": SimpleNamespace(
            dag_id="driftline__churn",
            run_id=run_id or f"scheduled__2026-01-{day:02d}T00:00:00+00:00",
            task_id=task_id,
            try_number=1,
        ),
    }


def test_construction(example_config):
    load = LoadWindowOperator(model_config=example_config, window="training")
    assert load.task_id == "load_training" and load.outlets == [raw_window("churn", "training")]
    validate = ValidateSnapshotOperator(model_config=example_config, snapshot={"uri": "x"}, window="training")
    assert validate.task_id == "validate_training" and validate.template_fields == ("snapshot",)
    assert validate.outlets == [validated_window("churn", "training")] and validate.snapshot == {"uri": "x"}


def test_load_current_writes_a_raw_snapshot(example_config, churn_data, driftline_home):
    op = LoadWindowOperator(model_config=example_config, task_id="load_current")
    ref = op.execute(context("load_current", 5))
    assert ref["status"] == "raw" and ref["rows"] == ROWS
    assert ref["uri"] == str(
        driftline_home
        / f"snapshots/churn/scheduled__2026-01-05T00_00_00_00_00/current_window.{ref['sha256'][:16]}.parquet"
    )
    facts = ref["facts"]
    assert (
        facts["window_start"] == "2026-01-05T00:00:00+00:00"
        and facts["window_end"] == "2026-01-06T00:00:00+00:00"
    )
    assert facts["window_kind"] == "current" and facts["window_days"] == 1
    assert facts["partitions"] == [str(churn_data / "churn/dt=2026-01-05/part.parquet")]
    assert len(read_snapshot(ref["uri"], require="raw")) == ROWS
    again = op.execute(context("load_current", 5))  # a retry rewrites the same snapshot
    assert again["uri"] == ref["uri"] and again["sha256"] == ref["sha256"]


def test_load_training_with_window_days_param(example_config, churn_data):
    op = LoadWindowOperator(model_config=example_config, window="training")
    ref = op.execute(context("load_training", 10, params={"window_days": 3}))
    facts = ref["facts"]
    assert ref["rows"] == 3 * ROWS and facts["window_kind"] == "rolling" and facts["window_days"] == 3
    assert facts["override_days"] == 3 and len(facts["partitions"]) == 3
    ref = op.execute(context("load_training", 10))  # config: rolling 14 days; 01-01 is the first day there is
    assert ref["facts"]["window_days"] == 14 and len(ref["facts"]["partitions"]) == 10
    assert ref["facts"]["missing_partitions"] == ["2025-12-28", "2025-12-29", "2025-12-30", "2025-12-31"]


@pytest.mark.slow
def test_load_since_champion_without_champion_falls_back(example_config, churn_data):
    config = example_config.model_copy(deep=True)
    config.data.window.kind = "since_champion"
    config.data.window.days = 4
    ref = LoadWindowOperator(model_config=config, window="training").execute(context("load_training", 10))
    assert ref["facts"]["window_kind"] == "rolling" and ref["facts"]["window_days"] == 4
    assert "no champion yet" in ref["facts"]["fallback"]


def test_validate_passes_and_marks_validated(example_config, churn_data):
    config = example_config.model_copy(deep=True)
    raw = LoadWindowOperator(model_config=config).execute(context("load_current", 5))
    op = ValidateSnapshotOperator(model_config=config, snapshot=raw)
    ref = op.execute(context("validate_current", 5))
    assert ref["status"] == "validated" and ref["uri"] == raw["uri"]
    summary = ref["facts"]["validation"]
    assert summary["success"] is True and summary["failed"] == 0 and summary["rows"] == ROWS
    result = json.loads(Path(ref["facts"]["validation_result"]).read_text())
    assert result["success"] is True and result["snapshot"] == raw["uri"]
    assert Path(ref["facts"]["validation_result"]).parent == Path(raw["uri"]).parent
    assert len(read_snapshot(raw["uri"], require="validated")) == ROWS
    assert op.execute(context("validate_current", 5)) == ref  # a retry after success is a no-op


def test_validate_accepts_a_json_string(example_config, churn_data):
    config = example_config.model_copy(deep=True)
    raw = LoadWindowOperator(model_config=config).execute(context("load_current", 6))
    ref = ValidateSnapshotOperator(model_config=config, snapshot=json.dumps(raw)).execute(
        context("validate_current", 6)
    )
    assert ref["status"] == "validated"


def test_corrupt_day_is_quarantined_and_alerted(example_config, churn_data, driftline_home):
    raw = LoadWindowOperator(model_config=example_config).execute(context("load_current", 17))
    op = ValidateSnapshotOperator(model_config=example_config, snapshot=raw)
    with pytest.raises(ValidationFailedError) as info:
        op.execute(context("validate_current", 17))
    message = str(info.value)
    name = f"current_window.{raw['sha256'][:16]}"
    quarantined = (
        driftline_home / f"snapshots/churn/quarantine/scheduled__2026-01-17T00_00_00_00_00/{name}.parquet"
    )
    assert f"quarantined at {quarantined}" in message
    assert "expect_column_values_to_not_be_null, column 'customer_id', 15 unexpected of 300" in message
    assert "expect_column_values_to_be_between, column 'tenure_months'" in message and "e.g. [-5" in message
    assert (
        "expect_column_values_to_be_in_set, column 'plan', 30 unexpected of 300 (10.00%), e.g. ['gold'"
        in message
    )
    with pytest.raises(SnapshotError):
        read_snapshot(raw["uri"], require="validated")
    assert read_manifest(str(quarantined)).status == "quarantined"
    result = json.loads(quarantined.with_name(f"{name}.validation.json").read_text())
    assert result["success"] is False and {f["column"] for f in result["failures"]} >= {"customer_id", "plan"}
    (alert,) = [
        json.loads(line) for line in (driftline_home / "alerts/alerts.jsonl").read_text().splitlines()
    ]
    assert alert["kind"] == "validation_failed" and alert["details"]["quarantine"] == str(quarantined)
    assert alert["run"]["run_id"] == "scheduled__2026-01-17T00:00:00+00:00"
    # a retry (e.g. the worker died after the move) finishes the quarantine and fails the same way,
    # instead of "snapshot does not exist"; the alert is not sent twice
    with pytest.raises(ValidationFailedError) as again:
        op.execute(context("validate_current", 17))
    assert str(again.value) == message
    assert len((driftline_home / "alerts/alerts.jsonl").read_text().splitlines()) == 1


def test_validate_rejects_a_non_snapshot(example_config):
    op = ValidateSnapshotOperator(model_config=example_config, snapshot="not json")
    with pytest.raises(SnapshotError, match="snapshot must be a SnapshotRef dict"):
        op.execute(context("validate_current", 5))


def test_missing_partition_fails_the_load(example_config, churn_data):
    (churn_data / "churn/dt=2026-01-05/part.parquet").unlink()
    from driftline.exceptions import DataSourceError

    with pytest.raises(DataSourceError, match="2026-01-05"):
        LoadWindowOperator(model_config=example_config).execute(context("load_current", 5))


def test_a_training_window_failing_on_a_day_no_run_scored_says_what_to_do(example_config, churn_data):
    # under the real scheduler a backfill from day 18 trained over the corrupt day 17, which no run
    # had scored, so the quarantine ledger did not leave it out: every retrain failed
    raw = LoadWindowOperator(model_config=example_config, window="training").execute(
        context("load_training", 20)
    )
    op = ValidateSnapshotOperator(model_config=example_config, snapshot=raw, window="training")
    with pytest.raises(ValidationFailedError) as info:
        op.execute(context("validate_training", 20))
    message = str(info.value)
    assert "churn: the training window failed validation" in message
    assert "a bad day of this window that no run has scored yet stays in every later window" in message
    assert (
        "Run the pipeline for that day (its validation quarantines it), then clear this run from load_training"
        in message
    )
