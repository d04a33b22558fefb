"""The task callback on a training pod: pod requests x prices, or OpenCost's figure for the run's pods."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from tests.unit.cost.conftest import SHARED_RUN_ID, _OpenCost

RUN_ID = "manual__2026-03-10T12:00:00+00:00"
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _context(config, run_id=RUN_ID, hours=1.0, try_number=1):
    from driftline.operators.train_pod import build_training_pod_operator

    task = build_training_pod_operator(config, task_id="train", snapshot="s3://b/snap.parquet")
    ti = SimpleNamespace(
        dag_id=f"driftline__{config.model.name}",
        run_id=run_id,
        task_id="train",
        try_number=try_number,
        map_index=-1,
        start_date=T0,
        end_date=T0 + dt.timedelta(hours=hours),
    )
    return {"task": task, "ti": ti}


@pytest.fixture
def config(example_config, tmp_path, monkeypatch, driftline_home):
    from driftline.config.models import CostSection

    monkeypatch.setenv("DRIFTLINE_COST_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    example_config.training.backend = "kubernetes"
    example_config.cost = CostSection()
    return example_config


def test_pod_estimate(config):
    from driftline.cost.ledger import Ledger
    from driftline.operators.cost import record_task_cost

    assert record_task_cost(_context(config, hours=2.0)) == 2
    totals = Ledger().run_totals("churn", RUN_ID)
    res = config.training.kubernetes.resources  # 4 vCPU, 16Gi, 1 x NVIDIA-A10G
    assert totals["compute"] == pytest.approx(2.0 * (4 * 0.04048 + 16 * 2**30 / 1e9 * 0.004445))
    assert totals["gpu"] == pytest.approx(2.0 * res.gpu * 1.006)


def test_opencost_replaces_the_estimate(config, opencost, monkeypatch):
    from driftline.cost.ledger import Ledger
    from driftline.operators.cost import record_task_cost

    monkeypatch.setenv("AIRFLOW_CONN_OPENCOST", json.dumps({"conn_type": "http", "host": opencost}))
    config.cost.opencost_conn_id = "opencost"
    run_id = "manual__2026-03-10T12_00_00-00_00-abc"  # the loopback server knows this label value
    record_task_cost(_context(config, run_id=run_id))
    rows = {r["kind"]: r for r in Ledger().entries("churn", run_id)}
    assert rows["compute"]["source"] == rows["gpu"]["source"] == "opencost"
    assert rows["compute"]["amount"] == pytest.approx(0.8) and rows["gpu"]["amount"] == pytest.approx(2.0)
    assert json.loads(rows["gpu"]["details"])["estimate"] == pytest.approx(1.006)
    assert _OpenCost.queries[-1]["aggregate"] == [
        "label:driftline_model,label:driftline_dag,label:driftline_run"
    ]
    # a run OpenCost does not know keeps the estimate, and says so
    record_task_cost(_context(config, run_id="other"))
    other = {r["kind"]: r for r in Ledger().entries("churn", "other")}
    assert other["gpu"]["source"] == "estimate"
    assert json.loads(other["gpu"]["details"])["opencost"] == "no allocation"


def test_two_models_on_one_schedule_are_each_charged_their_own_pods(config, opencost, monkeypatch):
    """Scheduled run ids are the same for every model on a schedule: the run alone must not decide."""
    from driftline.cost.ledger import Ledger
    from driftline.operators.cost import record_task_cost

    monkeypatch.setenv("AIRFLOW_CONN_OPENCOST", json.dumps({"conn_type": "http", "host": opencost}))
    config.cost.opencost_conn_id = "opencost"
    fraud = config.model_copy(deep=True)
    fraud.model.name = "fraud"
    record_task_cost(_context(config, run_id=SHARED_RUN_ID))
    record_task_cost(_context(fraud, run_id=SHARED_RUN_ID))
    churn_rows = {r["kind"]: r for r in Ledger().entries("churn", SHARED_RUN_ID)}
    fraud_rows = {r["kind"]: r for r in Ledger().entries("fraud", SHARED_RUN_ID)}
    assert churn_rows["gpu"]["source"] == fraud_rows["gpu"]["source"] == "opencost"
    assert churn_rows["gpu"]["amount"] == pytest.approx(4.0)
    assert fraud_rows["gpu"]["amount"] == pytest.approx(40.0)
    assert churn_rows["compute"]["amount"] == pytest.approx(1.55)
    assert fraud_rows["compute"]["amount"] == pytest.approx(15.05)


def test_no_cost_section_records_nothing(example_config):
    from driftline.operators.cost import record_task_cost

    example_config.cost = None
    assert record_task_cost(_context(example_config)) == 0


def test_training_pod_carries_model_and_run_labels(example_config):
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value
    from driftline.operators.train_pod import render_pod_manifest

    # a config cannot take over the labels cost attribution filters on
    example_config.training.kubernetes.labels = {
        "driftline/model": "fraud",
        "driftline/run": "x",
        "team": "a",
    }
    labels = render_pod_manifest(example_config, run_id=RUN_ID)["metadata"]["labels"]
    assert labels["driftline/model"] == "churn"
    assert labels["driftline/dag"] == "driftline__churn"
    assert labels["team"] == "a"
    assert labels["driftline/run"] == make_safe_label_value(RUN_ID)
    assert labels["run_id"] == labels["driftline/run"]  # the same value as the provider's own label
