"""Helpers shared by the registry integration tests: configs, data, and MLflow training runs."""

from __future__ import annotations

import datetime as dt
from typing import Any


def registry_config(name: str, **registry: Any) -> Any:
    """A small ModelConfig: two float features, a binary label, registered as `name`."""
    from driftline.config.models import ModelConfig

    return ModelConfig.model_validate(
        {
            "model": {"name": name},
            "data": {
                "source": {"kind": "local", "path": "unused/{ds}.parquet"},
                "entity_id": "id",
                "timestamp": "ts",
                "label": "y",
                "features": [{"name": "x1", "type": "float"}, {"name": "x2", "type": "float"}],
            },
            "training": {
                "estimator": {"class_path": "sklearn.linear_model.LogisticRegression"},
                "validation_days": 2,
                "min_validation_rows": 100,  # synthetic_frame holds 160 rows in its last 2 days
            },
            "registry": {"metric": "roc_auc", "direction": "maximize", **registry},
        }
    )


def synthetic_frame(days: int = 6, rows_per_day: int = 80, seed: int = 0) -> Any:
    """Rows over `days` UTC days; y depends on x1 strongly and not on x2."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    start = pd.Timestamp("2026-01-01", tz="UTC")
    ts = (
        start
        + pd.to_timedelta(np.repeat(np.arange(days), rows_per_day), unit="D")
        + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    )
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    y = (x1 + 0.5 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"id": [f"c{i}" for i in range(n)], "ts": ts, "x1": x1, "x2": x2, "y": y})


def log_training_run(
    hook: Any,
    name: str,
    *,
    weak: bool = False,
    seed: int = 0,
    dag_id: str = "driftline__test",
    run_id: str = "manual__1",
    snapshot_uri: str = "/tmp/snap.parquet",
    df: Any = None,
) -> dict[str, Any]:
    """Fit a LogisticRegression on x1, x2 (`weak`: on inverted labels); log run + model "model" + tags.

    Returns the train step's XCom-shaped dict.
    """
    import mlflow
    import mlflow.sklearn
    from driftline.training.metrics import evaluate
    from sklearn.linear_model import LogisticRegression

    df = synthetic_frame(seed=seed) if df is None else df
    X = df[["x1", "x2"]]
    # weak: fitted on inverted labels, so it ranks the wrong way round (AUC far below 0.5)
    y = 1 - df["y"] if weak else df["y"]
    model = LogisticRegression().fit(X, y)
    metrics = evaluate(model, X, df["y"], "binary_classification")
    client = hook.client
    mlflow.set_tracking_uri(hook.tracking_uri)
    experiment_id = hook.get_or_create_experiment(f"driftline-{name}")
    trained_until = dt.datetime(2026, 1, 6, tzinfo=dt.UTC).isoformat()
    tags = {
        "driftline.model": name,
        "driftline.snapshot_uri": snapshot_uri,
        "driftline.snapshot_sha256": "ab" * 32,
        "driftline.trained_until": trained_until,
        "driftline.metric_name": "roc_auc",
        "airflow.dag_id": dag_id,
        "airflow.run_id": run_id,
        "airflow.task_id": "train",
        "airflow.try_number": "1",
    }
    run = client.create_run(experiment_id, tags=tags)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_metrics(metrics)
        mlflow.sklearn.log_model(model, name="model", serialization_format="skops", pip_requirements=[])
    client.set_terminated(run.info.run_id, "FINISHED")
    return {
        "run_id": run.info.run_id,
        "experiment_id": experiment_id,
        "metrics": metrics,
        "snapshot_uri": snapshot_uri,
        "snapshot_sha256": "ab" * 32,
        "trained_until": trained_until,
    }


def extra_versions(hook: Any, name: str, source_version: int, count: int) -> list[int]:
    """`count` more versions of `name` with the same artifacts as `source_version` (cheap test setup)."""
    mv = hook.client.get_model_version(name, str(source_version))
    model_id = mv.source.removeprefix("models:/") if mv.source.startswith("models:/m-") else None
    made = []
    for _ in range(count):
        new = hook.client.create_model_version(
            name, mv.source, run_id=mv.run_id, tags=dict(mv.tags), model_id=model_id
        )
        made.append(int(new.version))
    return made
