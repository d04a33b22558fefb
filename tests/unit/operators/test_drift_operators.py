"""CheckDriftOperator and RetrainDecisionOperator against a real SQLite MLflow registry.

The fixtures live here rather than in a conftest.py: tests/unit/operators is shared by several steps.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from driftline.assets import retrain_needed, retrain_needed_alias
from driftline.operators.drift import CheckDriftOperator
from driftline.operators.drift_records import monitoring_experiment
from driftline.operators.retrain import RetrainDecisionOperator

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _own_mlflow_store(driftline_home, monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: pin each test to its own store."""
    from driftline.hooks.mlflow import default_tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_tracking_uri())
    return driftline_home


def churn_frame(n: int, *, shift: float = 0.0, concept: bool = False, seed: int = 0) -> pd.DataFrame:
    """Rows shaped like include/generate_churn_data.py; `shift` moves usage/support/charges."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    charges = rng.normal(60 + 30 * shift, 15, n)
    calls = rng.poisson(1 + 3 * shift, n)
    usage = rng.normal(300 - 150 * shift, 60, n)
    plan = rng.choice(["basic", "standard", "premium"], n)
    autopay = rng.random(n) < 0.6
    logit = -1.0 + 0.6 * calls - 0.03 * tenure + (0.8 * (~autopay))
    if concept:  # the relation flips: the old model now ranks customers the wrong way round
        logit = -logit
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "event_time": pd.Timestamp("2026-01-10", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "usage_minutes": usage,
            "plan": plan,
            "autopay": autopay,
            "churned": churned,
        }
    )


def validated_snapshot(df: pd.DataFrame, folder: Any, name: str) -> dict[str, Any]:
    from driftline.data.snapshots import mark, write_snapshot

    ref = write_snapshot(df, str(folder / f"{name}.parquet"), facts={"window_kind": "current"})
    return mark(ref, "validated").to_dict()


@pytest.fixture
def champion(driftline_home, example_config, tmp_path) -> SimpleNamespace:
    """Register a fitted churn model as `churn` v1 with alias `champion` and Driftline's tags."""
    warnings.filterwarnings("ignore")
    import mlflow
    import mlflow.sklearn
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry import champion as reg
    from driftline.training.estimators import make_pipeline, prepare_features
    from driftline.training.metrics import evaluate
    from sklearn.linear_model import LogisticRegression

    config = example_config
    train = churn_frame(3000, seed=1)
    features = config.data.features
    model = make_pipeline(LogisticRegression(max_iter=500), features)
    X = prepare_features(train, features)
    model.fit(X, train["churned"])
    auc = evaluate(model, X, train["churned"], config.training.task)["roc_auc"]
    reference = validated_snapshot(train, tmp_path / "snapshots" / "churn" / "train_run", "training")

    hook = MlflowHook()
    hook.store.use_for_fluent_api()  # log_model(registered_model_name=...) registers through the fluent API
    experiment_id = hook.get_or_create_experiment("driftline/churn/training")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=config.registered_model_name,
            pip_requirements=["scikit-learn"],
        )
    name = config.registered_model_name
    version = max(int(v.version) for v in hook.client.search_model_versions(f"name='{name}'"))
    promoted = dt.datetime(2026, 1, 9, tzinfo=dt.UTC)
    for key, value in {
        reg.TAG_TRAINING_RUN_ID: run.info.run_id,
        reg.TAG_SNAPSHOT_URI: reference["uri"],
        reg.TAG_METRIC_NAME: "roc_auc",
        reg.metric_tag("roc_auc"): str(auc),
        reg.TAG_TRAINED_UNTIL: "2026-01-09T00:00:00+00:00",
        reg.TAG_PROMOTED_AT: promoted.isoformat(),
    }.items():
        hook.client.set_model_version_tag(name, str(version), key, value)
    hook.client.set_registered_model_alias(name, reg.CHAMPION, str(version))
    return SimpleNamespace(name=name, version=version, auc=auc, reference=reference, hook=hook)


class FakeTI:
    """The task-instance surface the drift operators use (XCom push and identity)."""

    def __init__(self, run_id: str = "scheduled__2026-01-11", task_id: str = "decide_retrain") -> None:
        self.dag_id = "driftline__churn"
        self.run_id = run_id
        self.task_id = task_id
        self.try_number = 1
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def make_context(
    *, run_id: str = "scheduled__2026-01-11", force: bool = False, day: int = 11
) -> dict[str, Any]:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    end = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {
        "ti": FakeTI(run_id),
        "params": {"force_retrain": force},
        "data_interval_start": end - dt.timedelta(days=1),
        "data_interval_end": end,
        "outlet_events": OutletEventAccessors(),
    }


@pytest.fixture
def helpers() -> SimpleNamespace:
    """churn_frame, validated_snapshot and make_context for the tests."""
    return SimpleNamespace(
        churn_frame=churn_frame, validated_snapshot=validated_snapshot, make_context=make_context
    )


def _check(config, snapshot, helpers, labels=None):
    op = CheckDriftOperator(task_id="check_drift", model_config=config, current=snapshot, labels=labels)
    assert op.template_fields == ("current", "labels")
    return op.execute(helpers.make_context())


def _decide(config, drift, helpers, monkeypatch, **ctx):
    op = RetrainDecisionOperator(task_id="decide_retrain", model_config=config, drift=drift)
    assert op.template_fields == ("drift",)
    assert op.outlets == [retrain_needed_alias("churn")]
    monkeypatch.setattr(op, "do_branch", lambda context, branch: branch)  # skipping needs a real DAG run
    context = helpers.make_context(**ctx)
    branch = op.execute(context)
    return branch, context


def test_no_champion_means_not_evaluated_and_retrain(
    driftline_home, example_config, helpers, tmp_path, monkeypatch
):
    current = helpers.validated_snapshot(helpers.churn_frame(500), tmp_path / "run1", "current")
    out = _check(example_config, current, helpers)
    assert out["champion"] is None and out["report_html"] is None
    assert out["data_drift"] == {
        "evaluated": False,
        "reason": "not evaluated: no champion (no reference data)",
    }
    json.dumps(out)
    branch, context = _decide(example_config, out, helpers, monkeypatch)
    assert branch == "load_training"
    decision = context["ti"].xcom["decision"]
    assert decision["retrain"] and decision["reasons"] == ["no champion: there is no model in production yet"]
    events = list(context["outlet_events"][retrain_needed_alias("churn")].asset_alias_events)
    assert [e.dest_asset_key.name for e in events] == [retrain_needed("churn").name]


def test_drifted_window_with_concept_drift_retrains(champion, example_config, helpers, tmp_path, monkeypatch):
    # one drifted run retrains only without a persistence rule (churn.yaml asks for 2 of 3 runs)
    example_config = example_config.model_copy(deep=True)
    example_config.drift.persistence = {"k": 1, "n": 1}
    df = helpers.churn_frame(4000, shift=1.0, concept=True, seed=5)
    current = helpers.validated_snapshot(df, tmp_path / "snapshots" / "churn" / "run2", "current")
    out = _check(example_config, current, helpers)
    json.dumps(out)
    data = out["data_drift"]
    assert data["evaluated"] and data["dataset_drift"]
    assert {"monthly_charges", "support_calls", "usage_minutes"} <= set(data["drifted_columns"])
    assert "plan" not in data["drifted_columns"]
    concept = out["concept_drift"]
    assert concept["evaluated"] and concept["drifted"] and concept["labels"] == 4000
    assert concept["reference_value"] == pytest.approx(champion.auc)
    assert Path(out["report_html"]).parent == Path(current["uri"]).parent
    summary = json.loads(Path(out["summary_json"]).read_text())
    assert summary["data_drift"]["drifted_columns"] == data["drifted_columns"]
    assert summary["evidently_sample_report"]["sampled"] is False

    branch, context = _decide(example_config, out, helpers, monkeypatch)
    assert branch == "load_training"
    kinds = {r.split(":")[0] for r in context["ti"].xcom["decision"]["reasons"]}
    # the champion's predictions moved with the features: prediction drift is a reason too; the new
    # concept also moved the churn share, which the two-sample chi-square on class counts detects
    assert kinds == {"data drift", "concept drift", "prediction drift", "label drift"}
    assert out["prediction_drift"]["evaluated"] and out["prediction_drift"]["drifted"]
    assert out["label_drift"]["evaluated"] and out["label_drift"]["current_rows"] == 4000
    assert out["report"]["built"] and out["report"]["bytes"] > 0
    client = champion.hook.client
    exp = client.get_experiment_by_name(monitoring_experiment("churn"))
    [run] = client.search_runs([exp.experiment_id])
    assert run.data.tags["driftline.decision"] == "retrain"
    assert run.data.params["decision"] == "retrain"
    assert run.data.metrics["drifted.usage_minutes"] == 1.0
    assert "drift_score.plan" in run.data.metrics
    # the drift report and summary are artifacts of the MLflow run that recorded the decision
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert logged == {"drift/drift_report.html", "drift/drift_summary.json"}
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"

    # another run for the same interval (a backfill, a cleared run) decides as the first one did:
    # the cooldown counts retrains decided for strictly earlier intervals only
    branch, context = _decide(example_config, out, helpers, monkeypatch, run_id="backfill__2026-01-11")
    assert branch == "load_training"
    # the next interval is inside a 48 h cooldown of that retrain
    example_config.drift.cooldown_hours = 48
    branch, context = _decide(
        example_config, out, helpers, monkeypatch, run_id="scheduled__2026-01-12", day=12
    )
    decision = context["ti"].xcom["decision"]
    assert branch == "keep_champion" and decision["suppressed"] and not decision["reasons"]
    assert not list(context["outlet_events"][retrain_needed_alias("churn")].asset_alias_events)
    # forced: the cooldown does not hold it back
    branch, _ = _decide(
        example_config, out, helpers, monkeypatch, run_id="manual__2026-01-12", force=True, day=12
    )
    assert branch == "load_training"


def test_stable_window_keeps_the_champion(champion, example_config, helpers, tmp_path, monkeypatch):
    df = helpers.churn_frame(3000, seed=9)
    current = helpers.validated_snapshot(df.drop(columns=[]), tmp_path / "run3", "current")
    out = _check(example_config, current, helpers)
    assert out["data_drift"]["dataset_drift"] is False
    assert out["concept_drift"]["evaluated"] and out["concept_drift"]["drifted"] is False
    branch, context = _decide(example_config, out, helpers, monkeypatch)
    assert branch == "keep_champion"
    assert context["ti"].xcom["decision"]["reasons"] == []


def test_too_few_labels_is_not_evaluated(champion, example_config, helpers, tmp_path):
    df = helpers.churn_frame(2000, seed=3)
    df.loc[df.index[50:], "churned"] = None
    current = helpers.validated_snapshot(df, tmp_path / "run4", "current")
    out = _check(example_config, current, helpers)
    assert out["concept_drift"]["evaluated"] is False
    assert out["concept_drift"]["reason"] == "only 50 labelled rows, drift.concept.min_labels is 100"


def test_labels_source_without_labels_snapshot(champion, example_config, helpers, tmp_path):
    config = example_config.model_copy(deep=True)
    config.data.labels = config.data.source
    current = helpers.validated_snapshot(helpers.churn_frame(1500, seed=4), tmp_path / "run5", "current")
    from driftline.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"data\.labels is configured but no labels snapshot was passed"):
        _check(config, current, helpers)  # a wiring error, never "not evaluated"
    labels = helpers.churn_frame(1500, seed=4)[["customer_id", "churned"]]
    labels_ref = helpers.validated_snapshot(labels, tmp_path / "run5", "labels")
    out = _check(config, current, helpers, labels=labels_ref)
    assert out["concept_drift"]["evaluated"] and out["concept_drift"]["labels"] == 1500


def test_mismatched_current_columns_fail_permanently(champion, example_config, helpers, tmp_path):
    from driftline.exceptions import DriftInputError

    df = helpers.churn_frame(1500, seed=6).drop(columns=["plan"])
    current = helpers.validated_snapshot(df, tmp_path / "run6", "current")
    with pytest.raises(DriftInputError, match=r"missing in the current window: \['plan'\]"):
        _check(example_config, current, helpers)


def test_not_evaluated_beyond_the_limit_raises_an_alert(driftline_home, example_config, helpers, monkeypatch):
    """No champion for more than drift.max_not_evaluated_runs intervals in a row: one alert per run beyond."""
    reason = "not evaluated: no champion (no reference data)"
    out = {
        "champion": None,
        "data_drift": {"evaluated": False, "reason": reason},
        "concept_drift": {"evaluated": False, "drifted": None, "reason": reason},
    }
    example_config.drift.max_not_evaluated_runs = 2
    alerts = driftline_home / "alerts" / "alerts.jsonl"
    for day in (11, 12):
        _decide(example_config, out, helpers, monkeypatch, run_id=f"scheduled__{day}", day=day)
        _decide(example_config, out, helpers, monkeypatch, run_id=f"retry__{day}", day=day)  # counts once
    assert not alerts.exists()
    _decide(example_config, out, helpers, monkeypatch, run_id="scheduled__13", day=13)
    events = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [(e["kind"], e["details"]["check"], e["details"]["streak"]) for e in events] == [
        ("drift_not_evaluated", "data drift", 3),
        ("drift_not_evaluated", "concept drift", 3),
    ]
    assert "not evaluated for 3 consecutive runs" in events[0]["message"] and reason in events[0]["message"]
    # a backfill of an earlier interval counts the streak the schedule had then
    _decide(example_config, out, helpers, monkeypatch, run_id="backfill__12", day=12)
    assert len(alerts.read_text().splitlines()) == 2


def test_drift_window_of_the_last_days_reads_earlier_partitions_minus_quarantined(
    example_config, helpers, tmp_path
):
    """drift.current_window_days: 3 adds the two days before the run's interval, without quarantined ranges."""
    from driftline.data import quarantine_ledger

    source = {"kind": "local", "path": str(tmp_path / "src" / "dt={ds}" / "part.parquet")}
    config = example_config.model_copy(
        update={
            "data": example_config.data.model_copy(
                update={
                    "source": example_config.data.source.model_validate(source),
                    "snapshot_root": str(tmp_path / "snap"),
                }
            ),
            "drift": example_config.drift.model_copy(update={"current_window_days": 3}),
        }
    )
    for day in (8, 9):
        frame = helpers.churn_frame(100, seed=day)
        frame["event_time"] = frame["event_time"] - pd.Timedelta(days=10 - day)
        path = tmp_path / "src" / f"dt=2026-01-{day:02d}" / "part.parquet"
        path.parent.mkdir(parents=True)
        frame.to_parquet(path)
    quarantine_ledger.record(
        str(tmp_path / "snap"), "churn", "2026-01-08T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
        run_id="r8", snapshot="s", reason="bad batch",
    )  # fmt: skip
    current = helpers.churn_frame(50, seed=10)
    op = CheckDriftOperator(task_id="check_drift", model_config=config, current={})
    combined, facts = op._drift_window(current, helpers.make_context(day=11))
    assert len(combined) == 150 and facts["rows"] == 150  # day 9 + the run's own day
    assert facts["start"] == "2026-01-08T00:00:00+00:00" and facts["end"] == "2026-01-11T00:00:00+00:00"
    assert facts["quarantined_excluded"][0]["rows"] == 100 and len(facts["earlier_partitions"]) == 2
    plain = example_config.model_copy(
        update={"drift": example_config.drift.model_copy(update={"current_window_days": None})}
    )
    same, facts = CheckDriftOperator(task_id="c", model_config=plain, current={})._drift_window(
        current, helpers.make_context(day=11)
    )
    assert same is current and facts["days"] is None


def test_persistence_holds_the_first_drifted_run_and_the_next_one_retrains(
    champion, example_config, helpers, tmp_path, monkeypatch
):
    """churn.yaml: drift in 2 of the last 3 runs. The history is read from the recorded decisions
    (tag driftline.drift_signal) by data time; the decision records which runs counted."""
    assert (example_config.drift.persistence.k, example_config.drift.persistence.n) == (2, 3)
    df = helpers.churn_frame(4000, shift=1.0, concept=True, seed=5)
    current = helpers.validated_snapshot(df, tmp_path / "snapshots" / "churn" / "run2", "current")
    out = _check(example_config, current, helpers)
    first, context = _decide(
        example_config, out, helpers, monkeypatch, run_id="scheduled__2026-01-11", day=11
    )
    assert first == "keep_champion"
    held = context["ti"].xcom["decision"]
    assert held["drift_signal"] is True and held["persistence"]["drifted_runs"] == 1
    assert any(note.startswith("held by drift.persistence") for note in held["notes"])
    client = champion.hook.client
    exp = client.get_experiment_by_name(monitoring_experiment("churn"))
    [run] = client.search_runs([exp.experiment_id])
    assert run.data.tags["driftline.drift_signal"] == "true"
    second, context = _decide(
        example_config, out, helpers, monkeypatch, run_id="scheduled__2026-01-12", day=12
    )
    assert second == "load_training"
    decision = context["ti"].xcom["decision"]
    assert [(row["run_id"], row["drift"]) for row in decision["persistence"]["counted"]] == [
        ("scheduled__2026-01-12", True),
        ("scheduled__2026-01-11", True),
    ]


def _estimating_config(example_config, tmp_path):
    from driftline.config.models import ModelConfig

    data = example_config.model_dump(mode="json", exclude_unset=True)
    data["data"]["labels"] = {
        "kind": "local",
        "path": str(tmp_path / "labels" / "dt={ds}" / "part.parquet"),
        "format": "parquet",
    }
    data["drift"]["persistence"] = {"k": 1, "n": 1}
    data["drift"]["report"] = {"when": "never"}
    data["drift"]["performance_estimation"] = {"enabled": True, "metric": "accuracy", "max_drop": 0.02}
    return ModelConfig.model_validate(data)


def test_late_labels_estimate_retrains_then_is_compared_when_the_labels_arrive(
    champion, example_config, helpers, tmp_path, monkeypatch
):
    """Day 11 has no labels: the estimated accuracy drop retrains. Day 11's labels arrive; day 12's
    run records the realised accuracy beside day 11's estimate, in day 11's MLflow record."""
    from driftline.drift.performance import realised_performance
    from driftline.registry.models import load_model_version

    config = _estimating_config(example_config, tmp_path)
    empty = pd.DataFrame({"customer_id": [], "event_time": [], "churned": []})
    day11 = helpers.churn_frame(3000, shift=0.5, seed=21)
    current = helpers.validated_snapshot(day11.drop(columns=["churned"]), tmp_path / "run11", "current")
    labels = helpers.validated_snapshot(empty, tmp_path / "run11", "labels")
    op = CheckDriftOperator(task_id="check_drift", model_config=config, current=current, labels=labels)
    out = op.execute(helpers.make_context(day=11))
    json.dumps(out)
    assert out["concept_drift"]["evaluated"] is False  # the labels are late
    estimate = out["performance_estimate"]
    assert estimate["evaluated"] and estimate["method"] == "cbpe" and estimate["dropped"], estimate["reason"]
    assert estimate["window"]["end"] == "2026-01-11T00:00:00+00:00" and estimate["rows"] == 3000
    assert out["estimates_reconciled"] == []
    branch, context = _decide(config, out, helpers, monkeypatch, day=11)
    decision = context["ti"].xcom["decision"]
    assert branch == "load_training"
    assert "estimated performance drop (labels not in yet)" in {r.split(":")[0] for r in decision["reasons"]}
    client = champion.hook.client
    exp = client.get_experiment_by_name(monitoring_experiment("churn"))
    [run11] = client.search_runs([exp.experiment_id])
    assert run11.data.tags["driftline.estimate_status"] == "pending"
    assert run11.data.metrics["estimated.accuracy"] == pytest.approx(estimate["estimated_value"])
    assert run11.data.metrics["estimated_upper"] > run11.data.metrics["estimated.accuracy"]

    def check_day12() -> dict[str, Any]:
        day12 = helpers.churn_frame(500, seed=22).drop(columns=["churned"])
        cur12 = helpers.validated_snapshot(day12, tmp_path / "run12", "current")
        lab12 = helpers.validated_snapshot(empty, tmp_path / "run12", "labels")
        op12 = CheckDriftOperator(task_id="check_drift", model_config=config, current=cur12, labels=lab12)
        return op12.execute(helpers.make_context(run_id="scheduled__2026-01-12", day=12))

    # a few labels arrived for day 11: below min_label_coverage (90%), nothing is compared yet
    folder = tmp_path / "labels" / "dt=2026-01-10"
    folder.mkdir(parents=True)
    day11[["customer_id", "event_time", "churned"]].iloc[:1000].to_parquet(folder / "part.parquet")
    assert check_day12()["estimates_reconciled"] == []
    # all of them: day 11's estimate is compared with the realised accuracy
    day11[["customer_id", "event_time", "churned"]].to_parquet(folder / "part.parquet")
    out12 = check_day12()
    [row] = out12["estimates_reconciled"]
    model = load_model_version(champion.hook, champion.name, champion.version, config)
    realised = realised_performance(model, day11, config, "accuracy")
    assert row["decided_for"] == "2026-01-11T00:00:00+00:00" and row["mlflow_run_id"] == run11.info.run_id
    assert row["realised"] == pytest.approx(realised) and row["estimated"] == estimate["estimated_value"]
    assert row["labelled_rows"] == 3000 and row["coverage"] == 1.0
    assert row["covered"] is (estimate["lower"] <= realised <= estimate["upper"])
    assert abs(row["error"]) < 3 * estimate["se"]
    run11 = client.get_run(run11.info.run_id)
    assert run11.data.tags["driftline.estimate_status"] == "reconciled"
    assert run11.data.metrics["realised.accuracy"] == pytest.approx(realised)
    assert run11.data.metrics["estimate_error"] == pytest.approx(row["error"])
    # reconciled once: the next run does not compare it again
    assert check_day12()["estimates_reconciled"] == []


def test_an_earlier_estimate_whose_rows_are_gone_does_not_fail_todays_check(
    champion, example_config, helpers, tmp_path
):
    from driftline.operators.drift_records import TAG_ESTIMATE, TAG_ESTIMATE_STATUS

    config = _estimating_config(example_config, tmp_path)
    client = champion.hook.client
    experiment_id = champion.hook.get_or_create_experiment(monitoring_experiment("churn"))
    window = {
        "start": "2026-01-10T00:00:00+00:00",
        "end": "2026-01-11T00:00:00+00:00",
        "current_uri": str(tmp_path / "expired" / "current.parquet"),
        "champion_version": champion.version,
    }
    tags = {
        "driftline.decided_for": window["end"],
        TAG_ESTIMATE: json.dumps(
            {"metric": "accuracy", "estimated_value": 0.7, "lower": 0.68, "upper": 0.72, "window": window}
        ),
        TAG_ESTIMATE_STATUS: "pending",
    }
    old = client.create_run(experiment_id, tags=tags)
    empty = pd.DataFrame({"customer_id": [], "event_time": [], "churned": []})
    current = helpers.validated_snapshot(
        helpers.churn_frame(500, seed=22).drop(columns=["churned"]), tmp_path / "r12", "current"
    )
    labels = helpers.validated_snapshot(empty, tmp_path / "r12", "labels")
    op = CheckDriftOperator(task_id="check_drift", model_config=config, current=current, labels=labels)
    out = op.execute(helpers.make_context(run_id="scheduled__2026-01-12", day=12))
    assert out["estimates_reconciled"] == [] and out["performance_estimate"]["evaluated"]
    assert client.get_run(old.info.run_id).data.tags[TAG_ESTIMATE_STATUS] == "snapshot_unreadable"
