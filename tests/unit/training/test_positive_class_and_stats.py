"""Positive class, held-out span and the vectorised metrics behind the bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError
from driftline.training.bootstrap import Predictions, metric_se, point_metric, weighted_metric
from driftline.training.errors import TrainingInputError
from driftline.training.metrics import (
    METRICS,
    PositiveClassError,
    evaluate,
    predictions,
    resolve_positive_class,
)
from driftline.training.split import time_split
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("labels", "configured", "expected"),
    [
        ([0, 1, 1], None, 1),
        ([0.0, 1.0], None, 1.0),
        ([True, False], None, True),
        ([0, 0], None, 1),  # one class in a small window: still 1
        (["late", "on_time"], "late", "late"),
        ([1, 2], 2, 2),
        ([0, 1], "1", 1),  # a YAML string naming a numeric label
    ],
)
def test_positive_class_resolution(labels, configured, expected) -> None:
    assert resolve_positive_class(pd.Series(labels), configured) == expected


def test_string_labels_without_positive_class_are_refused() -> None:
    with pytest.raises(PositiveClassError, match=r"not 0/1: Driftline will not guess") as exc:
        resolve_positive_class(pd.Series(["late", "on_time"]), None, "status", "flights")
    assert isinstance(exc.value, PermanentError)
    assert "field data.positive_class" in str(exc.value) and "model 'flights'" in str(exc.value)
    with pytest.raises(PositiveClassError, match=r"data.positive_class 'early' is not a value"):
        resolve_positive_class(pd.Series(["late", "on_time"]), "early")
    with pytest.raises(PositiveClassError, match="not 0/1"):
        resolve_positive_class(pd.Series([1, 2]), None)


def test_positive_class_only_for_binary_tasks() -> None:
    base = {
        "model": {"name": "m"},
        "data": {
            "source": {"kind": "local", "path": "x/{ds}.parquet"},
            "entity_id": "id",
            "timestamp": "ts",
            "label": "y",
            "positive_class": "late",
            "features": [{"name": "x", "type": "float"}],
        },
        "training": {"estimator": {"class_path": "a.B"}, "task": "regression"},
    }
    with pytest.raises(ValidationError, match="applies to binary_classification only"):
        ModelConfig.model_validate(base)


class _Model:
    classes_ = np.array(["late", "on_time"])

    def __init__(self, p_late: np.ndarray) -> None:
        self.p = p_late

    def predict_proba(self, X):
        return np.column_stack([self.p, 1 - self.p])

    def predict(self, X):
        return np.where(self.p > 0.5, "late", "on_time")


def test_evaluate_scores_the_named_positive_class() -> None:
    rng = np.random.default_rng(0)
    y = np.where(rng.random(500) < 0.3, "late", "on_time")
    p_late = np.clip((y == "late") * 0.4 + rng.random(500) * 0.6, 0, 1)
    model, X = _Model(p_late), pd.DataFrame({"x": np.zeros(500)})
    late = evaluate(model, X, y, "binary_classification", "late")
    on_time = evaluate(model, X, y, "binary_classification", "on_time")
    assert late["roc_auc"] > 0.8 and on_time["roc_auc"] == pytest.approx(late["roc_auc"])  # AUC is symmetric
    assert late["precision"] != on_time["precision"]
    with pytest.raises(PositiveClassError):
        evaluate(model, X, y, "binary_classification")


def _sklearn(metric: str, p: Predictions) -> float:
    from sklearn import metrics as m

    if p.task == "regression":
        return {
            "rmse": lambda: float(np.sqrt(m.mean_squared_error(p.y, p.pred))),
            "mae": lambda: m.mean_absolute_error(p.y, p.pred),
            "r2": lambda: m.r2_score(p.y, p.pred),
        }[metric]()
    if p.task == "multiclass_classification":
        return {
            "accuracy": lambda: m.accuracy_score(p.y, p.pred),
            "f1_macro": lambda: m.f1_score(p.y, p.pred, average="macro"),
            "log_loss": lambda: m.log_loss(p.y, p.score, labels=[0, 1, 2]),
        }[metric]()
    return {
        "roc_auc": lambda: m.roc_auc_score(p.y, p.score),
        "pr_auc": lambda: m.average_precision_score(p.y, p.score),
        "log_loss": lambda: m.log_loss(p.y, p.score),
        "accuracy": lambda: m.accuracy_score(p.y, p.pred),
        "f1": lambda: m.f1_score(p.y, p.pred),
        "precision": lambda: m.precision_score(p.y, p.pred),
        "recall": lambda: m.recall_score(p.y, p.pred),
    }[metric]()


def _preds(task: str, n: int = 400, seed: int = 1) -> Predictions:
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(size=n)
        return Predictions(task, y, y + rng.normal(0, 0.5, n), None)
    if task == "multiclass_classification":
        y = rng.integers(0, 3, n)
        proba = rng.dirichlet([1, 1, 1], n)
        proba[np.arange(n), y] += 0.5
        proba /= proba.sum(axis=1, keepdims=True)
        return Predictions(task, y, proba.argmax(axis=1), proba, (0, 1, 2))
    y = rng.random(n) < 0.3
    score = np.round(np.clip(rng.random(n) * 0.7 + 0.3 * y, 0, 1), 2)  # rounded: ties
    return Predictions(task, y, score > 0.5, score)


@pytest.mark.parametrize(("task", "metric"), [(t, m) for t, names in METRICS.items() for m in names])
def test_weighted_metrics_equal_sklearn_and_honour_weights(task: str, metric: str) -> None:
    p = _preds(task)
    assert point_metric(metric, p) == pytest.approx(_sklearn(metric, p), rel=1e-9, abs=1e-12)
    # integer weights are the same as repeating rows
    counts = np.random.default_rng(2).integers(0, 3, p.rows)
    idx = np.repeat(np.arange(p.rows), counts)
    repeated = Predictions(
        p.task, p.y[idx], p.pred[idx], None if p.score is None else p.score[idx], p.classes
    )
    weighted = weighted_metric(metric, p, counts[None, :].astype(float))[0]
    assert weighted == pytest.approx(_sklearn(metric, repeated), rel=1e-9, abs=1e-12)


def test_metric_se_shrinks_with_rows() -> None:
    small, large = _preds("binary_classification", 200), _preds("binary_classification", 5000)
    assert metric_se("roc_auc", small) > 2 * metric_se("roc_auc", large) > 0


def _days(rows_per_day: list[int]) -> pd.DataFrame:
    stamps = [
        pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=d, hours=1 + i % 20)
        for d, rows in enumerate(rows_per_day)
        for i in range(rows)
    ]
    return pd.DataFrame({"ts": stamps, "x": range(len(stamps))})


def test_held_out_span_extends_backwards_until_min_rows() -> None:
    df = _days([100] * 10 + [20, 20])  # the last two days are thin
    train, valid = time_split(df, "ts", 2, min_rows=200)
    assert len(valid) == 240  # 2 thin days + 2 full days
    assert valid["ts"].min() == pd.Timestamp("2026-01-09 01:00", tz="UTC")
    assert len(train) == 800
    _, plain = time_split(df, "ts", 2)
    assert len(plain) == 40


def test_held_out_span_refuses_to_eat_the_training_data() -> None:
    with pytest.raises(TrainingInputError, match=r"min_validation_rows=300 .* would leave only") as exc:
        time_split(_days([100, 100, 100, 100, 20]), "ts", 1, min_rows=300)
    assert "widen data.window or lower training.min_validation_rows" in str(exc.value)
    with pytest.raises(TrainingInputError, match="the whole window has 60 rows"):
        time_split(_days([20, 20, 20]), "ts", 1, min_rows=100)


def test_predictions_encode_the_positive_class() -> None:
    model, X = _Model(np.array([0.9, 0.2, 0.7])), pd.DataFrame({"x": [0, 0, 0]})
    p = predictions(model, X, np.array(["late", "on_time", "on_time"]), "binary_classification", "late")
    assert p.y.tolist() == [True, False, False] and p.pred.tolist() == [True, False, True]
    assert p.score.tolist() == [0.9, 0.2, 0.7] and p.positive == "late"
