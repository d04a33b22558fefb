"""Run metrics: what a run summary becomes, one MLflow record per Airflow run, StatsD with the model tag."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest
from driftline.monitoring import model_history, record_run_metrics, run_metrics, stat_name

SUMMARY = {
    "model": "churn",
    "stages": {
        "load_current": {"uri": "s", "rows": 2000, "status": "loaded", "facts": {}},
        "validate_current": {
            "rows": 2000,
            "facts": {
                "validation": {"success": True, "evaluated": 24, "passed": 23, "failed": 0, "warned": 1}
            },
        },
        "check_drift": {
            "data_drift": {
                "evaluated": True,
                "dataset_drift": True,
                "drift_share": 0.5,
                "number_of_drifted_columns": 3,
                "drifted_columns": ["monthly_charges", "plan", "tenure_months"],
            },
            "concept_drift": {"evaluated": True, "metric": "roc_auc", "live_value": 0.61, "drop": 0.09},
        },
        "decide_retrain": {"retrain": True, "reasons": ["data drift"]},
        "evaluate_gate": {"decision": "kept_champion", "reason": "not better"},
        "score_and_write": {"written": 2000},
    },
}


def test_a_summary_becomes_metrics_and_decisions():
    metrics, params = run_metrics(SUMMARY, {"train": 12.5}, {"total_usd": 0.25})
    assert metrics == {
        "rows_loaded": 2000.0,
        "validation_pass_rate": 23 / 24,
        "validation_failed": 0.0,
        "validation_warned": 1.0,
        "drift_share": 0.5,
        "drifted_columns": 3.0,
        "dataset_drift": 1.0,
        "live_metric": 0.61,
        "live_metric_drop": 0.09,
        "retrain": 1.0,
        "gate_promoted": 0.0,
        "predictions_written": 2000.0,
        "duration_s.train": 12.5,
        "cost.total_usd": 0.25,
    }
    assert params == {
        "drifted_columns": "monthly_charges,plan,tenure_months",
        "live_metric_name": "roc_auc",
        "retrain_decision": "retrain",
        "gate_decision": "kept_champion",
    }
    # a run where drift was not evaluated and nothing was trained reports no numbers for them
    quiet, _ = run_metrics({"stages": {"check_drift": {"data_drift": {"evaluated": False}}}})
    assert quiet == {}


def test_stat_names():
    assert stat_name("rows_loaded") == ("driftline.rows_loaded", {})
    assert stat_name("duration_s.score_and_write") == (
        "driftline.stage_duration_seconds",
        {"stage": "score_and_write"},
    )
    assert stat_name("cost.total_usd") == ("driftline.cost_total_usd", {})


@pytest.fixture
def statsd_sink():
    """Airflow's own StatsD logger (InfluxDB-style tags) sending to a UDP listener on loopback."""
    from airflow.sdk._shared.observability.metrics.statsd_logger import get_statsd_logger
    from statsd import StatsClient

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    logger = get_statsd_logger(
        stats_class=StatsClient,
        host="127.0.0.1",
        port=sock.getsockname()[1],
        prefix="airflow",
        influxdb_tags_enabled=True,
        statsd_influxdb_enabled=True,
    )

    def received(n: int) -> list[str]:
        return [sock.recvfrom(65535)[0].decode() for _ in range(n)]

    logger.received = received  # type: ignore[attr-defined]
    yield logger
    sock.close()


@pytest.mark.slow
def test_record_once_per_run_with_the_model_tag(driftline_home, statsd_sink):
    from driftline.mlflow_store import EXPERIMENT_KIND_TAG, MlflowStore

    store = MlflowStore(f"sqlite:///{driftline_home / 'mlflow' / 'mlflow.db'}")
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    metrics = {"rows_loaded": 400.0, "duration_s.train": 2.5}
    first = record_run_metrics(
        "churn", "manual__1", metrics, store=store, stats=statsd_sink, params={"gate_decision": "promoted"}
    )
    assert sorted(statsd_sink.received(2)) == [
        "airflow.driftline.rows_loaded,model=churn:400.0|g",
        "airflow.driftline.stage_duration_seconds,model=churn,stage=train:2.5|g",
    ]
    # a retry of the summary step finds the finished record and logs nothing twice
    assert record_run_metrics("churn", "manual__1", metrics, store=store) == first
    # a record a crashed try left half-written is replaced
    experiment = store.client.get_experiment_by_name("driftline/churn/monitoring")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    crashed = store.client.create_run(
        experiment.experiment_id, tags={"driftline.record": "run_metrics", "airflow.run_id": "manual__2"}
    )
    time.sleep(0.01)
    second = record_run_metrics("churn", "manual__2", {"rows_loaded": 500.0}, store=store)
    assert second != crashed.info.run_id
    assert store.client.get_run(crashed.info.run_id).info.lifecycle_stage == "deleted"

    history = model_history(store.client, "churn", since=before)
    assert [(h["airflow_run_id"], h["metrics"]) for h in history] == [
        ("manual__1", {"rows_loaded": 400.0, "duration_s.train": 2.5}),
        ("manual__2", {"rows_loaded": 500.0}),
    ]
    assert history[0]["params"] == {"gate_decision": "promoted"} and history[0]["mlflow_run_id"] == first
    assert model_history(store.client, "churn", since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == []
    assert model_history(store.client, "unknown") == []


def test_the_runs_cost_comes_from_the_cost_ledger(driftline_home, example_config):
    from driftline.cost.ledger import Ledger, TaskKey
    from driftline.cost.pricing import Entry
    from driftline.operators.monitoring import cost_metrics

    assert example_config.cost is not None
    now = dt.datetime.now(dt.UTC)
    key = TaskKey(model="churn", dag_id="driftline__churn", run_id="manual__1", task_id="train")
    Ledger().record(
        key,
        [Entry("compute", 0.5, "cpu_hour", 0.02), Entry("gpu", 0.1, "gpu_hour", 0.25)],
        started=now - dt.timedelta(minutes=30),
        ended=now,
    )
    assert cost_metrics(example_config, "driftline__churn", "manual__1") == pytest.approx(
        {"compute": 0.02, "gpu": 0.25, "total": 0.27}
    )
    assert (
        cost_metrics(example_config.model_copy(update={"cost": None}), "driftline__churn", "manual__1") == {}
    )
