"""`driftline cost`, the report rows and HTML, and ROI read through the experiment store's contract."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from driftline.config.models import CostSection, Resources
from driftline.cost.ledger import Ledger, TaskKey
from driftline.cost.pricing import Usage, pod_footprint, task_entries, worker_footprint
from driftline.cost.report import collect, format_table, html_report, parse_since

TODAY = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0)


@pytest.fixture
def ledger(tmp_path, monkeypatch, driftline_home):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("DRIFTLINE_COST_LEDGER_URL", url)
    led = Ledger(url)
    cost = CostSection()
    for run, start in (("r1", TODAY - dt.timedelta(days=1)), ("r2", TODAY)):
        end = start + dt.timedelta(hours=1)
        key = TaskKey("churn", "driftline__churn", run, "train")
        fp = pod_footprint(Resources(cpu="4", memory="16G", gpu=1, gpu_type="NVIDIA-T4"))
        led.record(key, task_entries(cost, start, end, fp), started=start, ended=end)
        key = TaskKey("churn", "driftline__churn", run, "score_and_write")
        usage = Usage(dynamodb_write_units=1000, details={"items": 1000})
        led.record(
            key, task_entries(cost, start, end, worker_footprint(cost), usage), started=start, ended=end
        )
    return led


@dataclass
class _Experiment:
    model: str
    started_at: dt.datetime
    last_evaluation: dict = field(default_factory=dict)


def test_rows_table_and_html(ledger):
    cost = CostSection(monthly_budget=100.0, value_per_event=2.0)
    [row] = collect(ledger, {"churn": cost})
    assert row.runs == 2 and row.gpu_hours == pytest.approx(2.0)
    assert row.by_kind["gpu"] == pytest.approx(2 * 0.526)
    assert row.predictions == 2000
    assert row.cost_per_1k_predictions == pytest.approx(row.total / 2)
    assert row.total == pytest.approx(
        ledger.run_totals("churn", "r1")["total"] + ledger.run_totals("churn", "r2")["total"]
    )
    text = format_table([row])
    assert "churn" in text and "gpu" in text and "dynamodb_write" in text and "of 100.00" in text
    assert "ROI cannot be measured: no MLflow client" in text
    page = html_report([row])
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert parse_since("2026-03-01") == dt.date(2026, 3, 1)
    assert parse_since("7d", today=dt.date(2026, 3, 8)) == dt.date(2026, 3, 1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_since("last week")


def test_roi_through_the_experiment_store_contract(ledger, monkeypatch):
    arms = {
        "champion": {"n": 5000, "kpi_mean": 0.82, "kpi_var": 0.15},
        "challenger": {"n": 1000, "kpi_mean": 0.83, "kpi_var": 0.14},
        "no_model": {"n": 600, "kpi_mean": 0.75, "kpi_var": 0.19},
    }
    from driftline.experiments import store

    started = TODAY - dt.timedelta(days=1)
    monkeypatch.setattr(
        store, "list_experiments", lambda client, model: [_Experiment(model, started, {"arms": arms})]
    )
    [row] = collect(ledger, {"churn": CostSection(value_per_event=2.0)}, client_for=lambda m: object())
    r = row.roi
    assert r.measurable and r.events == 6000
    assert r.uplift == pytest.approx((5000 * 0.82 + 1000 * 0.83) / 6000 - 0.75)
    assert r.cost == pytest.approx(row.total)
    assert r.roi_low < r.roi < r.roi_high
    assert "ROI +" in format_table([row])
    monkeypatch.setattr(
        store,
        "list_experiments",
        lambda client, model: [_Experiment(model, started, {"arms": {"champion": arms["champion"]}})],
    )
    [row] = collect(ledger, {"churn": CostSection(value_per_event=2.0)}, client_for=lambda m: object())
    assert (
        row.roi.describe()
        == "ROI cannot be measured: no 'no_model' holdout arm: the value of the model cannot be measured"
    )


@pytest.mark.slow
def test_cli(ledger, capsys, example_config_path, monkeypatch):
    from driftline.cli import main

    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(example_config_path.parent))
    assert main(["cost", "churn", "--since", "30d"]) == 0
    out = capsys.readouterr().out
    # the report alone: MLflow's log lines (reading the store creates it) go to stderr
    assert out.splitlines()[0].split()[:3] == ["model", "runs", "gpu_h"]
    assert "churn" in out and "of 50.00" in out  # the example config's monthly budget
    assert "ROI cannot be measured" in out
    assert main(["cost", "fraud"]) == 1
    assert "no cost recorded for fraud" in capsys.readouterr().out
    assert main(["cost", "--since", "yesterday"]) == 2


@pytest.mark.slow
def test_cost_report_dag_writes_html_to_mlflow(ledger, example_config, monkeypatch):
    from driftline.factory.cost_report import build_cost_report_dag
    from driftline.hooks.mlflow import default_tracking_uri
    from driftline.operators.cost import REPORT_EXPERIMENT
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("DRIFTLINE_MLFLOW_LOCAL_STORE", "1")
    dag = build_cost_report_dag([example_config])
    assert dag.dag_id == "driftline__cost_report" and dag.tags == {"driftline", "cost"}
    task = dag.get_task("cost_report")
    out = task.execute({"run_id": "scheduled__2026-03-10"})
    assert out["models"]["churn"]["runs"] == 2
    assert out["models"]["churn"]["roi"]["measurable"] is False
    client = MlflowClient(tracking_uri=default_tracking_uri())
    experiment = client.get_experiment_by_name(REPORT_EXPERIMENT)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == out["mlflow_run_id"]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"cost_report.html", "cost_report.txt"}
    again = task.execute({"run_id": "scheduled__2026-03-10"})  # a retry writes into the same MLflow run
    assert again["mlflow_run_id"] == out["mlflow_run_id"]
