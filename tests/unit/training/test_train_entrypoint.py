"""train() and `python -m driftline.training` against a real SQLite-backed MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from driftline.config.models import Estimator
from driftline.exceptions import PermanentError, SnapshotError
from driftline.training.entrypoint import experiment_name, main, train
from driftline.training.errors import TrainingInputError

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

IDENTITY = {"dag_id": "driftline__churn", "run_id": "manual__1", "task_id": "train", "try_number": "1"}
REPO_ROOT = Path(__file__).resolve().parents[3]


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, config: Any) -> list[Any]:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment_name(config))
    return [] if exp is None else client.search_runs([exp.experiment_id])


def test_local_training_logs_params_metrics_tags_and_a_loadable_model(
    config: Any, validated_snapshot: Any, tracking_uri: str, churn_frame: pd.DataFrame
) -> None:
    import mlflow.artifacts
    import mlflow.sklearn

    result = train(config, validated_snapshot.uri, IDENTITY, tracking_uri=tracking_uri)
    out = result.to_dict()
    assert set(out) >= {
        "run_id",
        "experiment_id",
        "metrics",
        "snapshot_uri",
        "snapshot_sha256",
        "trained_until",
    }
    assert out["snapshot_sha256"] == validated_snapshot.sha256 and out["reused"] is False
    assert out["trained_until"] == "2026-01-09T00:00:00+00:00"
    assert set(result.metrics) == {"roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "pr_auc"}
    assert 0.5 < result.metrics["roc_auc"] <= 1.0

    run = _client(tracking_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert _client(tracking_uri).get_experiment(run.info.experiment_id).name == "driftline/churn"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["max_iter"] == "30" and params["learning_rate"] == "0.1"
    assert params["estimator"] == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert params["window_start"] == "2026-01-01T00:00:00+00:00" and params["window_kind"] == "rolling"
    assert params["window_partitions"] == "8"
    assert int(params["train_rows"]) == 6 * 300 and int(params["valid_rows"]) == 2 * 300
    assert params["split_at"] == "2026-01-07T00:00:00+00:00"
    assert metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert metrics["val_roc_auc"] == pytest.approx(result.metrics["roc_auc"]) and "train_roc_auc" in metrics
    assert tags["driftline.model"] == "churn"
    assert tags["driftline.snapshot_uri"] == validated_snapshot.uri
    assert tags["driftline.snapshot_sha256"] == validated_snapshot.sha256
    assert tags["driftline.trained_until"] == "2026-01-09T00:00:00+00:00"
    assert tags["driftline.metric_name"] == "roc_auc"
    assert {tags[f"airflow.{k}"] for k in IDENTITY} == set(IDENTITY.values())
    for package in ("python", "scikit-learn", "pandas", "numpy", "mlflow"):
        assert tags[f"driftline.env.{package}"]
    experiment = _client(tracking_uri).get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # MLflow's classic ML view
    artifacts = {a.path for a in _client(tracking_uri).list_artifacts(result.run_id)}
    assert "lineage.json" in artifacts
    lineage = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/lineage.json")
    assert lineage["snapshot_sha256"] == validated_snapshot.sha256
    assert lineage["window"]["window_kind"] == "rolling"

    model = mlflow.sklearn.load_model(result.model_uri)
    sample = churn_frame[config.feature_names].head(5)
    proba = model.predict_proba(sample)
    assert proba.shape == (5, 2)
    same = mlflow.sklearn.load_model(f"runs:/{result.run_id}/model")
    assert (same.predict_proba(sample) == proba).all()


def test_a_retry_reuses_the_finished_run(config: Any, validated_snapshot: Any, tracking_uri: str) -> None:
    first = train(config, validated_snapshot.uri, IDENTITY, tracking_uri=tracking_uri)
    again = train(config, validated_snapshot.uri, {**IDENTITY, "try_number": "2"}, tracking_uri=tracking_uri)
    assert again.reused is True
    assert again.run_id == first.run_id and again.metrics == pytest.approx(first.metrics)
    assert again.model_uri == first.model_uri and again.trained_until == first.trained_until
    assert len(_runs(tracking_uri, config)) == 1
    # another Airflow run of the same DAG trains anew
    other = train(
        config, validated_snapshot.uri, {**IDENTITY, "run_id": "manual__2"}, tracking_uri=tracking_uri
    )
    assert other.run_id != first.run_id and len(_runs(tracking_uri, config)) == 2


def test_a_failed_try_marks_its_run_failed_and_the_retry_trains(
    config: Any, validated_snapshot: Any, tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "flaky_model.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "def fit(X, y, params):\n"
        "    if params.get('fail'):\n"
        "        raise RuntimeError('GPU fell off the bus')\n"
        "    return LogisticRegression(max_iter=200).fit(X[['tenure_months', 'support_calls']], y)\n"
    )
    monkeypatch.setenv("DRIFTLINE_PROJECT_ROOT", str(tmp_path))
    cfg = config.model_copy(deep=True)
    cfg.data.features = [f for f in cfg.data.features if f.name in {"tenure_months", "support_calls"}]
    cfg.drift.columns = {}
    cfg.training.estimator = Estimator(callable="flaky_model:fit", params={"fail": True})
    with pytest.raises(RuntimeError, match="GPU fell off the bus"):
        train(cfg, validated_snapshot.uri, IDENTITY, tracking_uri=tracking_uri)
    (failed,) = _runs(tracking_uri, cfg)
    assert failed.info.status == "FAILED" and failed.info.end_time is not None

    cfg.training.estimator.params = {}
    result = train(cfg, validated_snapshot.uri, {**IDENTITY, "try_number": "2"}, tracking_uri=tracking_uri)
    assert result.reused is False and result.run_id != failed.info.run_id
    statuses = {r.info.run_id: r.info.status for r in _runs(tracking_uri, cfg)}
    assert statuses == {failed.info.run_id: "FAILED", result.run_id: "FINISHED"}


def test_a_run_left_running_by_a_killed_try_is_marked_killed(
    config: Any, validated_snapshot: Any, tracking_uri: str
) -> None:
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook(tracking_uri=tracking_uri)
    exp = hook.get_or_create_experiment(experiment_name(config))
    tags = {f"airflow.{k}": v for k, v in IDENTITY.items()}
    stale = hook.client.create_run(exp, tags={**tags, "driftline.snapshot_sha256": validated_snapshot.sha256})
    result = train(config, validated_snapshot.uri, {**IDENTITY, "try_number": "2"}, tracking_uri=tracking_uri)
    assert hook.client.get_run(stale.info.run_id).info.status == "KILLED"
    assert hook.client.get_run(result.run_id).info.status == "FINISHED"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: setattr(c.registry, "metric", "rmse"),
            "registry.metric 'rmse' is not computed for training.task 'binary_classification': "
            "available metrics are roc_auc, accuracy, f1, precision, recall, log_loss, pr_auc",
        ),
        (
            lambda c: setattr(c.training.estimator, "class_path", "sklearn.ensemble.GradientBoostedTrees"),
            "training.estimator.class_path 'sklearn.ensemble.GradientBoostedTrees': "
            "module 'sklearn.ensemble' has no class 'GradientBoostedTrees'",
        ),
        (
            lambda c: setattr(c.training.estimator, "params", {"max_iter": 10, "n_estimators": 5}),
            "training.estimator.params: sklearn.ensemble.HistGradientBoostingClassifier does not accept "
            "['n_estimators']",
        ),
    ],
    ids=["unknown-metric", "unknown-class", "unknown-param"],
)
def test_bad_config_fails_before_any_mlflow_run(
    config: Any, validated_snapshot: Any, tracking_uri: str, change: Any, message: str
) -> None:
    change(config)
    with pytest.raises(TrainingInputError) as exc:
        train(config, validated_snapshot.uri, IDENTITY, tracking_uri=tracking_uri)
    assert isinstance(exc.value, PermanentError)
    assert str(exc.value).startswith(message)
    assert _runs(tracking_uri, config) == []


def test_one_class_label_is_refused(
    config: Any, driftline_home: Path, churn_frame: pd.DataFrame, tracking_uri: str, make_snapshot: Any
) -> None:
    ref = make_snapshot(churn_frame.assign(churned=0), driftline_home, name="one_class")
    with pytest.raises(TrainingInputError, match=r"data\.label='churned' has only one class \['0'\]"):
        train(config, ref.uri, IDENTITY, tracking_uri=tracking_uri)
    assert _runs(tracking_uri, config) == []


def test_missing_or_unvalidated_snapshots_are_refused(
    config: Any, driftline_home: Path, churn_frame: pd.DataFrame, tracking_uri: str, make_snapshot: Any
) -> None:
    raw = make_snapshot(churn_frame, driftline_home, name="raw_window", status="raw")
    with pytest.raises(SnapshotError, match="has status 'raw'; training reads only 'validated' snapshots"):
        train(config, raw.uri, IDENTITY, tracking_uri=tracking_uri)
    missing = str(driftline_home / "snapshots" / "churn" / "nope" / "training.parquet")
    with pytest.raises(SnapshotError, match="does not exist"):
        train(config, missing, IDENTITY, tracking_uri=tracking_uri)


def test_cli_writes_the_result_to_the_xcom_file(
    config: Any,
    validated_snapshot: Any,
    tracking_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    xcom = tmp_path / "airflow" / "xcom" / "return.json"
    argv = ["--config-json", config.model_dump_json(), "--snapshot", validated_snapshot.uri]
    argv += ["--dag-id", "d", "--run-id", "r", "--task-id", "train", "--try-number", "1"]
    argv += ["--tracking-uri", tracking_uri, "--xcom-path", str(xcom)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads(xcom.read_text()) == printed
    assert printed["snapshot_sha256"] == validated_snapshot.sha256 and "roc_auc" in printed["metrics"]
    run = _client(tracking_uri).get_run(printed["run_id"])
    assert run.data.tags["airflow.dag_id"] == "d" and run.data.tags["airflow.try_number"] == "1"


def test_module_entrypoint_exits_2_on_bad_input(example_config_path: Path, driftline_home: Path) -> None:
    missing = str(driftline_home / "missing.parquet")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{driftline_home / 'm.db'}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftline.training",
            "--config",
            str(example_config_path),
            "--snapshot",
            missing,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        f"snapshot {missing} does not exist" in proc.stdout + proc.stderr
    )  # Airflow routes logging to stdout


def test_string_labels_need_the_positive_class(
    config: Any, driftline_home: Path, churn_frame: pd.DataFrame, tracking_uri: str, make_snapshot: Any
) -> None:
    frame = churn_frame.assign(churned=churn_frame["churned"].map({1: "left", 0: "stayed"}))
    ref = make_snapshot(frame, driftline_home, name="string_labels")
    with pytest.raises(TrainingInputError, match=r"field data\.positive_class") as exc:
        train(config, ref.uri, IDENTITY, tracking_uri=tracking_uri)
    assert isinstance(exc.value, PermanentError)
    assert "['left', 'stayed']" in str(exc.value)
    assert _runs(tracking_uri, config) == []

    named = config.model_copy(update={"data": config.data.model_copy(update={"positive_class": "left"})})
    result = train(named, ref.uri, IDENTITY, tracking_uri=tracking_uri)
    run = _client(tracking_uri).get_run(result.run_id)
    assert run.data.tags["driftline.positive_class"] == "'left'"
    assert run.data.metrics["roc_auc_se"] > 0 and run.data.metrics["validation_rows"] > 0
    # the same model scored with "stayed" as positive would have AUC 1 - auc: "left" really is positive
    assert result.metrics["roc_auc"] > 0.6
