"""The experiment store: durable in the MLflow registry, one running experiment per model, idempotent per run."""

from __future__ import annotations

import pytest
from driftline.experiments.store import (
    ExperimentStateError,
    current_experiment,
    finish_experiment,
    get_experiment,
    list_experiments,
    record_decision,
    start_experiment,
)
from driftline.registry.retry import RetryPolicy

SHARES = {"champion": 0.7, "challenger": 0.2, "no_model": 0.1}
FAST = {"policy": RetryPolicy(attempts=2, backoff=0.0, budget=5.0), "lock_ttl": 30.0, "lock_wait": 5.0}


@pytest.fixture
def client(ab_client):
    return ab_client


def start(client, op_key="pipeline/run-1", challenger=2, **kw):
    return start_experiment(
        client,
        "churn",
        champion_version=1,
        challenger_version=challenger,
        shares=SHARES,
        salt=f"churn:v{challenger}",
        op_key=op_key,
        no_model_default=0,
        **FAST,
        **kw,
    )


def test_state_survives_a_new_client_and_round_trips(client, tmp_path):
    from mlflow.tracking import MlflowClient

    started = start(client)
    assert started.id == 1 and started.status == "running"
    fresh = MlflowClient(tracking_uri=client.tracking_uri, registry_uri=client.tracking_uri)
    [stored] = list_experiments(fresh, "churn")
    assert stored == started
    assert current_experiment(fresh, "churn") == started
    assert stored.shares == SHARES and stored.salt == "churn:v2" and stored.no_model_default == 0
    assert stored.arm_versions() == {"champion": 1, "challenger": 2, "no_model": None}


def test_a_retry_of_the_same_run_does_not_start_a_second_experiment(client):
    first = start(client)
    again = start(client)
    assert again == first
    assert len(list_experiments(client, "churn")) == 1


def test_one_experiment_per_model_at_a_time(client):
    start(client)
    with pytest.raises(ExperimentStateError) as info:
        start(client, op_key="pipeline/run-2", challenger=3)
    assert str(info.value) == (
        "model 'churn' already runs experiment #1 of 'churn': challenger v2 vs champion v1 "
        f"(champion 70%, challenger 20%, no_model 10%), running since "
        f"{list_experiments(client, 'churn')[0].started_at:%Y-%m-%d %H:%M} UTC: one experiment per model at a time"
    )


def test_replace_ends_the_running_one_as_replaced(client):
    start(client)
    second = start(client, op_key="pipeline/run-2", challenger=3, replace_running="replaced by v3")
    first, latest = list_experiments(client, "churn")
    assert first.status == "replaced" and first.end_reason == "replaced by v3"
    assert first.ended_by == "pipeline/run-2"
    assert latest == second and second.id == 2 and current_experiment(client, "churn") == second


def test_decisions_are_recorded_once_per_run(client):
    exp = start(client)
    evaluation = {"arms": {"champion": {"n": 700, "kpi_mean": 0.5, "kpi_var": 0.25}}}
    d1 = record_decision(
        client,
        "churn",
        exp.id,
        {"action": "continue", "needed": 300},
        op_key="eval/day-1",
        evaluation=evaluation,
        **FAST,
    )
    retry = record_decision(
        client, "churn", exp.id, {"action": "promote"}, op_key="eval/day-1", evaluation={}, **FAST
    )
    assert retry == d1 and d1["seq"] == 1 and d1["action"] == "continue"
    d2 = record_decision(client, "churn", exp.id, {"action": "promote"}, op_key="eval/day-2", **FAST)
    stored = get_experiment(client, "churn", exp.id)
    assert [d["action"] for d in stored.decisions] == ["continue", "promote"] and d2["seq"] == 2
    assert stored.last_evaluation == evaluation


def test_finish_is_idempotent_and_refuses_a_different_end(client):
    exp = start(client)
    done = finish_experiment(
        client, "churn", exp.id, "promoted", "challenger wins", op_key="eval/day-9", **FAST
    )
    assert done.status == "promoted" and done.ended_at is not None
    assert (
        finish_experiment(client, "churn", exp.id, "promoted", "again", op_key="eval/day-9", **FAST) == done
    )
    assert current_experiment(client, "churn") is None
    with pytest.raises(
        ExperimentStateError, match=r"it already ended \(challenger wins\); cannot end it as 'stopped'"
    ):
        finish_experiment(client, "churn", exp.id, "stopped", "x", op_key="eval/day-10", **FAST)


def test_unknown_model_or_experiment(client):
    assert list_experiments(client, "nope") == [] and current_experiment(client, "nope") is None
    with pytest.raises(ExperimentStateError, match="model 'churn' has no A/B experiment #7"):
        get_experiment(client, "churn", 7)
