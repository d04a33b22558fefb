"""With registry.approval.required the gate records its verdict and moves nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.registry.champion import read_aliases
from driftline.registry.gate import run_gate
from driftline.registry.registration import register_training_run
from registry_helpers import log_training_run, registry_config, synthetic_frame


@pytest.fixture
def evaluation(snapshot_dir):
    from driftline.data.snapshots import mark, write_snapshot

    ref = write_snapshot(
        synthetic_frame(seed=11), str(snapshot_dir / "training.parquet"), {"window": "training"}
    )
    return mark(ref, "validated").to_dict()


@pytest.fixture
def server_hook(driftline_home):
    """The SQLite MLflow store of this test (no server process needed for this check)."""
    from driftline.hooks.mlflow import MlflowHook

    return MlflowHook("mlflow_default")


def test_gate_with_approval_required_hands_over_a_promotion_request(server_hook, model_name, evaluation):
    config = registry_config(model_name, min_score=0.6, approval={"required": True, "respondents": ["alice"]})
    training = log_training_run(server_hook, model_name, run_id="scheduled__1", seed=1)
    registered = register_training_run(
        server_hook, config, training, dag_id="driftline__t", run_id="scheduled__1"
    )
    start, end = dt.datetime(2026, 1, 5, tzinfo=dt.UTC), dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    result = run_gate(
        server_hook,
        config,
        registered,
        evaluation,
        actor="airflow:t/1",
        op_key="driftline__t/scheduled__1",
        data_time=end,
        approval_required=True,
        data_start=start,
    )
    assert result["decision"] == "awaiting_approval" and result["promotion"] is None
    assert read_aliases(server_hook, model_name) == {"challenger": 1}  # nothing moved
    request = result["promotion_request"]
    assert (request["source"], request["model"], request["version"], request["expected_champion"]) == (
        "gate",
        model_name,
        1,
        None,
    )
    assert request["challenger_score"] == result["challenger"]["score"]
    assert request["data_window"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert request["details"]["data_time"] == end.isoformat()
    tags = server_hook.client.get_model_version(model_name, "1").tags
    assert tags["driftline.gate.decision"] == "awaiting_approval"
