"""Cost recording under Airflow's own task runner (dag.test): each try once, the run's total to MLflow."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap

import pytest

DAG_ID = "driftline_test__cost"

DAG_FILE = textwrap.dedent(
    '''
    """Test DAG: flaky (fails its first try) -> leaf, with the factory's default_args (airflow dag)."""
    from __future__ import annotations

    import datetime as dt
    from pathlib import Path

    from airflow.sdk import DAG

    from driftline.config import load_config
    from driftline.factory.dags import default_args
    from driftline.operators.base import DriftlineOperator

    config = load_config("{config}")
    MARKER = Path("{marker}")


    class Flaky(DriftlineOperator):
        """Fails its first try."""

        def execute(self, context):
            if not MARKER.exists():
                MARKER.write_text("tried")
                raise RuntimeError("first try fails")
            return "ok"


    class Leaf(DriftlineOperator):
        """The run's last step."""

        def execute(self, context):
            return "done"


    args = {{**default_args(config), "retry_delay": dt.timedelta(seconds=0), "retry_exponential_backoff": False}}
    with DAG("{dag_id}", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), default_args=args) as dag:
        Flaky(task_id="flaky", model_config=config) >> Leaf(task_id="leaf", model_config=config)
    '''
)


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture
def cost_dag(tmp_path, monkeypatch, airflow_db, example_config_path, driftline_home):
    folder = tmp_path / "dags"
    folder.mkdir()
    path = folder / "cost_dag.py"
    path.write_text(DAG_FILE.format(config=example_config_path, dag_id=DAG_ID, marker=tmp_path / "marker"))
    bundle = [
        {
            "name": "driftline-cost-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    monkeypatch.setenv("DRIFTLINE_MLFLOW_LOCAL_STORE", "1")
    monkeypatch.delenv("DRIFTLINE_COST_LEDGER_URL", raising=False)
    spec = importlib.util.spec_from_file_location("cost_dag", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.dag
    sys.modules.pop("cost_dag", None)


@pytest.mark.slow
def test_each_try_recorded_once_and_run_total_logged(cost_dag, tmp_path):
    from driftline.cost.ledger import Ledger
    from driftline.cost.tracking import cost_experiment

    run = cost_dag.test(logical_date=dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    assert run.state == "success"
    ledger = Ledger()
    rows = ledger.entries("churn", run.run_id)
    assert sorted((r["task_id"], r["try_number"], r["kind"]) for r in rows) == [
        ("flaky", 1, "compute"),
        ("flaky", 2, "compute"),
        ("leaf", 1, "compute"),
    ]
    for r in rows:  # duration x (worker share x prices): 4 vCPU / 16 slots, 16 GB / 16 slots
        hours = (r["ended_at"] - r["started_at"]).total_seconds() / 3600
        assert r["amount"] == pytest.approx(hours * (0.25 * 0.04048 + 1.0 * 0.004445))
    total = ledger.run_totals("churn", run.run_id)["total"]
    from driftline.hooks.mlflow import default_tracking_uri
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=default_tracking_uri())  # the local store under DRIFTLINE_HOME
    experiment = client.get_experiment_by_name(cost_experiment("churn"))
    [mlflow_run] = client.search_runs([experiment.experiment_id])
    assert mlflow_run.data.tags["airflow.run_id"] == run.run_id
    assert mlflow_run.data.metrics["cost.total"] == pytest.approx(total)
