"""Evaluation metrics per task; the registry's metric must be one of them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.training.errors import TrainingInputError

METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "pr_auc"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def available_metrics(task: str) -> tuple[str, ...]:
    """The metric names `evaluate` computes for `task`."""
    try:
        return METRICS[task]
    except KeyError:
        raise TrainingInputError(
            f"training.task {task!r} is unknown: expected one of {sorted(METRICS)}"
        ) from None


def check_metric(task: str, metric: str) -> None:
    """Fail before fitting when `registry.metric` is not computed for `training.task`."""
    names = available_metrics(task)
    if metric not in names:
        raise TrainingInputError(
            f"registry.metric {metric!r} is not computed for training.task {task!r}: "
            f"available metrics are {', '.join(names)}"
        )


def _proba(model: Any, X: Any) -> np.ndarray | None:
    if not hasattr(model, "predict_proba"):
        return None
    return np.asarray(model.predict_proba(X))


def evaluate(model: Any, X: Any, y: Any, task: str) -> dict[str, float]:
    """Score a fitted model on (X, y). Probability metrics need `predict_proba`."""
    from sklearn import metrics as m

    available_metrics(task)
    y_true = np.asarray(y)
    pred = np.asarray(model.predict(X))
    out: dict[str, float] = {}
    if task == "regression":
        out["rmse"] = math.sqrt(m.mean_squared_error(y_true, pred))
        out["mae"] = m.mean_absolute_error(y_true, pred)
        out["r2"] = m.r2_score(y_true, pred)
        return {k: float(v) for k, v in out.items()}
    proba = _proba(model, X)
    classes = getattr(model, "classes_", None)
    out["accuracy"] = m.accuracy_score(y_true, pred)
    if task == "binary_classification":
        positive = classes[1] if classes is not None and len(classes) == 2 else 1
        out["f1"] = m.f1_score(y_true, pred, pos_label=positive, zero_division=0)
        out["precision"] = m.precision_score(y_true, pred, pos_label=positive, zero_division=0)
        out["recall"] = m.recall_score(y_true, pred, pos_label=positive, zero_division=0)
        if proba is not None:
            score = proba[:, 1]
            y_bin = (y_true == positive).astype(int)
            if len(np.unique(y_bin)) == 2:
                out["roc_auc"] = m.roc_auc_score(y_bin, score)
                out["pr_auc"] = m.average_precision_score(y_bin, score)
            out["log_loss"] = m.log_loss(y_bin, score, labels=[0, 1])
    else:
        out["f1_macro"] = m.f1_score(y_true, pred, average="macro", zero_division=0)
        if proba is not None:
            out["log_loss"] = m.log_loss(y_true, proba, labels=classes)
    return {k: float(v) for k, v in out.items()}
