"""What score_and_write's result costs: write units in upsert mode, GB imported in snapshot mode."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _usage(example_config, result):
    from driftline.operators.cost import task_usage
    from driftline.operators.inference import ScoreAndWriteOperator

    task = ScoreAndWriteOperator(task_id="score_and_write", model_config=example_config, snapshot={})
    ti = SimpleNamespace(task_id="score_and_write", xcom_pull=lambda task_ids: result)
    return task_usage(task, ti)


def test_upsert_mode_costs_the_consumed_write_units(example_config):
    usage = _usage(example_config, {"written": 1000, "consumed_wcu": 1500.0})
    assert usage.dynamodb_write_units == 1500.0 and usage.dynamodb_import_gb == 0


def test_snapshot_mode_costs_the_gb_imported_and_the_export_puts_not_write_units(example_config):
    from driftline.config.models import CostSection
    from driftline.cost.pricing import task_entries, worker_footprint

    result = {
        "mode": "snapshot",
        "written": 2000,
        "consumed_wcu": 0.0,
        "export_bytes": 3 * 2**30,
        "export_files": 4,
    }
    usage = _usage(example_config, result)
    assert usage.dynamodb_write_units == 0 and usage.dynamodb_import_gb == pytest.approx(3.0)
    cost = CostSection()
    kinds = {e.kind: e for e in task_entries(cost, T0, T0, worker_footprint(cost), usage)}
    assert "dynamodb_write" not in kinds
    assert kinds["dynamodb_import"].amount == pytest.approx(3.0 * 0.15)
    assert kinds["dynamodb_import"].details["items"] == 2000
    assert kinds["s3_requests"].quantity == 4
