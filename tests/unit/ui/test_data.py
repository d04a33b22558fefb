"""The page's data layer against a real SQLite MLflow store, an Airflow SQLite database and an alert log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from driftline.ui import data
from driftline.ui.sources import DEMO, demo_source, stack_source


@pytest.fixture(scope="module")
def page(ui_history: tuple[Path, dict[str, Any]]) -> data.ModelPage:
    from driftline.config import load_config

    home, _ = ui_history
    source = demo_source(home)
    assert source is not None and source.name == DEMO
    config = load_config(Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml")
    return data.model_page(source, config)


def test_champion_and_challenger_come_from_the_registry_aliases(page: data.ModelPage, ui_history) -> None:
    _, facts = ui_history
    assert isinstance(page.champion, data.VersionFacts) and isinstance(page.challenger, data.VersionFacts)
    assert (page.champion.version, page.champion.run_id, page.champion.metric_value) == (
        1,
        facts["train_runs"][1],
        0.72,
    )
    assert (page.challenger.version, page.challenger.metric_value) == (2, 0.74)
    assert page.champion.trained_until == dt.datetime(2026, 1, 17, tzinfo=dt.UTC)


def test_runs_come_from_airflow_newest_first(page: data.ModelPage) -> None:
    assert isinstance(page.runs, list)
    assert [r.state for r in page.runs] == ["failed", "success", "failed", "success", "success"]
    assert page.last_run is not None and page.last_run.run_id == "scheduled__2026-01-20T00:00:00+00:00"
    assert page.last_run.logical_date == dt.datetime(2026, 1, 21, tzinfo=dt.UTC)


def test_drift_history_is_one_point_per_decision_oldest_first(page: data.ModelPage, ui_history) -> None:
    _, facts = ui_history
    assert isinstance(page.drift, list)
    assert [p.drift_share for p in page.drift] == [0.0, 0.17, 0.5, 0.5]
    assert [p.live["roc_auc"] for p in page.drift] == [0.72, 0.71, 0.69, 0.66]
    assert [p.decision for p in page.drift] == ["keep", "keep", "retrain", "retrain"]
    assert page.drift[-1].scores == {"usage_minutes": pytest.approx(1.52), "plan": pytest.approx(1.51)}
    assert page.drift[-1].drifted == {"usage_minutes": True, "plan": True}
    assert [p.mlflow_run_id for p in page.drift] == facts["monitoring_runs"]


def test_drift_report_artifact_is_found_only_where_it_was_stored(ui_history) -> None:
    _, facts = ui_history
    mlflow = data.ReadOnlyMlflow(facts["uri"])
    runs = facts["monitoring_runs"]
    assert data.report_path(data.drift_artifacts(mlflow, runs[2])) == "drift/report.html"
    assert data.report_path(data.drift_artifacts(mlflow, runs[0])) is None


def test_open_alerts_are_those_since_the_last_successful_run(page: data.ModelPage) -> None:
    assert isinstance(page.alerts, list)
    assert [a["kind"] for a in page.alerts] == ["task_failed", "drift", "validation_failed"]  # newest first
    assert sorted(a["kind"] for a in page.open_alerts) == ["drift", "task_failed"]


def _run(run_id: str, state: str, end: int | None = None) -> data.RunFacts:
    ended = None if end is None else dt.datetime(2026, 1, end, tzinfo=dt.UTC)
    return data.RunFacts("d", run_id, state, "scheduled", None, None, ended)


@pytest.mark.parametrize(
    ("runs", "alerts", "expected"),
    [
        ([], [{"kind": "a", "run": {"run_id": "r1"}}], ["a"]),  # no run yet: everything is open
        ([_run("r2", "failed"), _run("r1", "failed")], [{"kind": "a", "run": {"run_id": "r1"}}], ["a"]),
        ([_run("r2", "success", 2), _run("r1", "failed")], [{"kind": "a", "run": {"run_id": "r1"}}], []),
        ([_run("r2", "success", 2)], [{"kind": "drift", "run": {"run_id": "r2"}}], ["drift"]),
        # no run id: open when raised after the last successful run ended
        ([_run("r2", "success", 2)], [{"kind": "x", "created_at": "2026-01-03T00:00:00+00:00"}], ["x"]),
        ([_run("r2", "success", 2)], [{"kind": "x", "created_at": "2026-01-01T00:00:00+00:00"}], []),
    ],
)
def test_open_alerts_truth_table(
    runs: list[data.RunFacts], alerts: list[dict[str, Any]], expected: list[str]
) -> None:
    assert [a["kind"] for a in data.open_alerts(alerts, runs)] == expected


def test_cost_this_month_and_daily_cost_come_from_the_ledger(page: data.ModelPage) -> None:
    assert isinstance(page.cost, dict)
    assert page.cost["month_total"] == pytest.approx(1.75)  # the earlier month's 9.0 is not this month's
    assert page.cost["budget"] == 50.0 and page.cost["budget_used"] == pytest.approx(1.75 / 50)
    assert page.cost["total"] == pytest.approx(10.75) and len(page.cost["daily"]) == 2


def test_roi_without_an_experiment_says_why(page: data.ModelPage) -> None:
    assert page.experiment is None  # the registered model never had an A/B experiment
    assert isinstance(page.roi, dict) and page.roi["measurable"] is False
    assert "no A/B experiment" in page.roi["reason"]


def test_run_metrics_come_from_the_monitoring_records(page: data.ModelPage) -> None:
    assert isinstance(page.run_metrics, list)
    assert [r["metrics"]["predictions_written"] for r in page.run_metrics] == [1900.0, 1901.0, 1902.0, 1903.0]


def test_no_ledger_is_a_sentence_not_a_zero(tmp_path: Path, example_config) -> None:
    source = stack_source(tracking_uri=f"sqlite:///{tmp_path / 'x.db'}", home=tmp_path)
    cost, roi = data.cost_and_roi(source, example_config, None)
    assert isinstance(cost, data.Missing) and cost.why.startswith("no cost recorded yet")
    assert roi == cost


@pytest.mark.slow
def test_a_store_without_the_model_says_what_is_missing(tmp_path: Path) -> None:
    from driftline.config import load_config

    source = stack_source(tracking_uri=f"sqlite:///{tmp_path / 'empty.db'}", home=tmp_path)
    config = load_config(Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml")
    mlflow = data.ReadOnlyMlflow(source.tracking_uri)
    found = data.aliases(mlflow, config.registered_model_name)
    assert isinstance(found, data.Missing) and "no registered model 'churn'" in found.why
    drift = data.drift_history(mlflow, "churn")
    assert isinstance(drift, data.Missing) and "driftline/churn/monitoring" in drift.why
    assert data.read_alerts(tmp_path / "none.jsonl", "churn") == []


def test_no_demo_source_without_a_demo_store(tmp_path: Path) -> None:
    assert demo_source(tmp_path) is None
