"""Batch inference during an A/B experiment: each entity scored by its arm, the arm in every item,
deterministic across reruns, the no_model holdout given the business default."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from driftline.experiments.assignment import assign_arms
from driftline.inference.arms import ArmPlan
from driftline.inference.batch import run_batch_inference
from driftline.inference.items import item_set_checksum
from inference_helpers import PLAN, FaultyClient, scan_all

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

END = dt.datetime(2026, 1, 16, tzinfo=dt.UTC)


def run(client: Any, config: Any, snapshot: dict[str, Any], models: dict[int, Any], **kw: Any) -> Any:
    args: dict[str, Any] = {
        "run_id": "scheduled__2026-01-15T00:00:00+00:00",
        "data_time": END,
        "champion_version": 3,
        "load_model": lambda version: models[version],
        "scored_at": END,
        "experiment": PLAN,
        **kw,
    }
    return run_batch_inference(client, config, snapshot, **args)


def test_each_arm_is_scored_by_its_model_and_named_in_the_item(
    ddb, make_config, validated, churn_model, constant_model, current_frame
):
    config = make_config()
    result = run(ddb, config, validated, {3: churn_model, 7: constant_model})
    items = {i["entity_id"]: i for i in scan_all(ddb, config.inference.table) if "prediction" in i}
    ids = current_frame["customer_id"].tolist()
    expected = dict(
        zip(ids, assign_arms(ids, salt="churn:v7", challenger_share=0.3, holdout_share=0.2), strict=True)
    )
    assert {e: i["arm"] for e, i in items.items()} == expected
    assert result["arms"] == dict(Counter(expected.values()))
    assert result["experiment_id"] == 4 and result["challenger_version"] == 7
    for item in items.values():
        assert item["experiment_id"] == 4
        if item["arm"] == "champion":
            assert item["model_version"] == 3 and item["alias"] == "champion" and 0 < item["score"] < 1
        elif item["arm"] == "challenger":
            assert item["model_version"] == 7 and item["alias"] == "challenger" and item["score"] == 0
        else:
            assert item["prediction"] == 0 and "score" not in item
            assert "model_version" not in item and "alias" not in item


def test_a_retry_keeps_the_recorded_split_even_if_the_experiment_changed(
    ddb, make_config, validated, churn_model, constant_model, table_name
):
    models = {3: churn_model, 7: constant_model, 8: churn_model}
    reference = make_config(table=f"{table_name}-ref", chunk_rows=100)
    run(ddb, reference, validated, models)
    expected = item_set_checksum(scan_all(ddb, reference.inference.table))

    config = make_config(chunk_rows=100)
    with pytest.raises(RuntimeError, match="writer killed"):
        run(FaultyClient(ddb, die_after=3), config, validated, models)
    other = ArmPlan(5, 8, "churn:v8", 0.5, 0.0)
    result = run(ddb, config, validated, models, experiment=other)  # a retry never re-decides
    assert result["experiment_id"] == 4
    assert item_set_checksum(scan_all(ddb, config.inference.table)) == expected
