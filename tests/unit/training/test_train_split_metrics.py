"""Time split and metrics: pure functions, real sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftline.exceptions import PermanentError
from driftline.training.errors import TrainingInputError
from driftline.training.metrics import METRICS, available_metrics, check_metric, evaluate
from driftline.training.split import time_split


def _frame(days: int, per_day: int = 4) -> pd.DataFrame:
    ts = pd.date_range("2026-01-01", periods=days * per_day, freq=f"{24 // per_day}h", tz="UTC")
    return pd.DataFrame({"event_time": ts, "x": range(len(ts))})


def test_time_split_holds_out_the_latest_days() -> None:
    train, valid = time_split(_frame(5), "event_time", 2)
    assert valid["event_time"].min() == pd.Timestamp("2026-01-04", tz="UTC")
    assert train["event_time"].max() < pd.Timestamp("2026-01-04", tz="UTC")
    assert len(train) + len(valid) == 20 and len(valid) == 8


def test_time_split_accepts_naive_and_string_timestamps() -> None:
    df = _frame(3)
    df["event_time"] = df["event_time"].dt.tz_localize(None).astype(str)
    train, valid = time_split(df, "event_time", 1)
    assert len(valid) == 4 and len(train) == 8


def test_time_split_errors_when_a_side_is_empty() -> None:
    with pytest.raises(TrainingInputError, match=r"training.validation_days=3 holds out every row") as exc:
        time_split(_frame(3), "event_time", 3)
    assert isinstance(exc.value, PermanentError)
    with pytest.raises(TrainingInputError, match=r"data\.timestamp column .ts. is not in the snapshot"):
        time_split(_frame(3), "ts", 1)


def test_check_metric_names_registry_metric_and_the_available_ones() -> None:
    check_metric("binary_classification", "roc_auc")
    with pytest.raises(TrainingInputError) as exc:
        check_metric("regression", "roc_auc")
    assert str(exc.value) == (
        "registry.metric 'roc_auc' is not computed for training.task 'regression': available metrics are rmse, mae, r2"
    )
    assert available_metrics("multiclass_classification") == ("accuracy", "f1_macro", "log_loss")


@pytest.mark.parametrize("task", sorted(METRICS))
def test_evaluate_returns_every_metric_of_the_task(task: str) -> None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    if task == "regression":
        y = X["a"] * 2 + rng.normal(size=300) * 0.1
        model = RandomForestRegressor(n_estimators=10, random_state=0)
    elif task == "binary_classification":
        y = (X["a"] > 0).astype(int)
        model = RandomForestClassifier(n_estimators=10, random_state=0)
    else:
        y = pd.cut(X["a"], [-np.inf, -0.5, 0.5, np.inf], labels=["lo", "mid", "hi"]).astype(str)
        model = RandomForestClassifier(n_estimators=10, random_state=0)
    model.fit(X, y)
    scores = evaluate(model, X, y, task)
    assert set(scores) == set(METRICS[task])
    assert all(isinstance(v, float) for v in scores.values())
    if task == "binary_classification":
        assert scores["roc_auc"] > 0.9 and 0 <= scores["pr_auc"] <= 1


def test_rows_without_a_timestamp_are_never_put_in_the_training_part() -> None:
    df = _frame(3).astype({"event_time": object})
    df.loc[[0, 5], "event_time"] = ["not a time", None]
    with pytest.raises(TrainingInputError, match=r"has 2 of 12 row\(s\) without a parseable timestamp"):
        time_split(df, "event_time", 1)
