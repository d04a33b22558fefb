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


class PositiveClassError(TrainingInputError):
    """A binary task whose positive label cannot be inferred: the config must name it."""


def same_label(a: Any, b: Any) -> bool:
    """Label equality across int/float/str spellings (1 == 1.0 == "1"; "late" == "late")."""
    try:
        if bool(a == b):
            return True
    except (TypeError, ValueError):
        pass
    return str(a) == str(b)


def is_positive(values: Any, positive: Any) -> np.ndarray:
    """Boolean mask of `values` equal to the positive label."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf" and isinstance(positive, bool | int | float | np.number):
        return np.asarray(arr == positive, dtype=bool)
    return np.array([same_label(v, positive) for v in arr.tolist()], dtype=bool)


def resolve_positive_class(y: Any, configured: Any, label: str = "the label", model: str = "") -> Any:
    """The positive label of a binary task, as a value of `y`.

    `configured` is `data.positive_class`; it must be one of the labels. Without it, labels that
    are 0/1 (or booleans) default to 1 (True); anything else (string labels such as
    `late`/`on_time`) is refused with a message saying how to set it.
    """
    import pandas as pd

    values = [v for v in pd.unique(pd.Series(np.asarray(y, dtype=object)).dropna())]
    where = f"model {model!r}: " if model else ""
    if configured is not None:
        for value in values:
            if same_label(value, configured):
                return value.item() if isinstance(value, np.generic) else value
        if not values:
            return configured
        raise PositiveClassError(
            f"{where}data.positive_class {configured!r} is not a value of the label column {label!r} "
            f"(values: {sorted(map(str, values))[:10]})"
        )
    numeric = all(isinstance(v, bool | int | float | np.bool_ | np.integer | np.floating) for v in values)
    if numeric and {float(v) for v in values} <= {0.0, 1.0}:
        if values and all(isinstance(v, bool | np.bool_) for v in values):
            return True
        found = next((v for v in values if float(v) == 1.0), 1)
        return found.item() if isinstance(found, np.generic) else found
    shown = sorted(map(str, values))[:10]
    raise PositiveClassError(
        f"{where}the label column {label!r} of this binary task has labels {shown}, not 0/1: "
        "Driftline will not guess which one is positive. Name it in the model's config file "
        f"(dags/configs/<model>.yaml), field data.positive_class, e.g. `data: {{positive_class: {shown[-1] if shown else 'yes'}}}`"
    )


def predictions(model: Any, X: Any, y: Any, task: str, positive_class: Any = None) -> Any:
    """The model's predictions on (X, y), encoded for driftline.training.bootstrap."""
    from driftline.training.bootstrap import Predictions

    available_metrics(task)
    y_true = np.asarray(y)
    pred = np.asarray(model.predict(X))
    if task == "regression":
        return Predictions(task, y_true.astype(float), pred.astype(float), None)
    proba = _proba(model, X)
    classes = list(getattr(model, "classes_", None) if getattr(model, "classes_", None) is not None else [])
    if task == "binary_classification":
        positive = resolve_positive_class(y_true, positive_class)
        score = None
        if proba is not None:
            matches = [i for i, c in enumerate(classes) if same_label(c, positive)]
            if not matches:
                raise PositiveClassError(
                    f"the positive class {positive!r} is not one of the model's classes {classes}"
                )
            score = proba[:, matches[0]].astype(float)
        y_bin, p_bin = is_positive(y_true, positive), is_positive(pred, positive)
        return Predictions(task, y_bin, p_bin, score, tuple(classes), positive)
    if not classes:
        classes = sorted(set(y_true.tolist()) | set(pred.tolist()), key=str)
    index = {c: i for i, c in enumerate(classes)}
    y_idx = np.array([index.get(v, -1) for v in y_true.tolist()], dtype=int)
    p_idx = np.array([index.get(v, -1) for v in pred.tolist()], dtype=int)
    return Predictions(task, y_idx, p_idx, proba, tuple(classes))


def _proba(model: Any, X: Any) -> np.ndarray | None:
    if not hasattr(model, "predict_proba"):
        return None
    return np.asarray(model.predict_proba(X))


def evaluate(model: Any, X: Any, y: Any, task: str, positive_class: Any = None) -> dict[str, float]:
    """Score a fitted model on (X, y). Probability metrics need `predict_proba`.

    Binary tasks score the positive class `positive_class` (see `resolve_positive_class`).
    """
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
        positive = resolve_positive_class(y_true, positive_class)
        out["f1"] = m.f1_score(y_true, pred, pos_label=positive, zero_division=0)
        out["precision"] = m.precision_score(y_true, pred, pos_label=positive, zero_division=0)
        out["recall"] = m.recall_score(y_true, pred, pos_label=positive, zero_division=0)
        if proba is not None:
            column = [
                i for i, c in enumerate(classes if classes is not None else []) if same_label(c, positive)
            ]
            if not column:
                raise PositiveClassError(
                    f"the positive class {positive!r} is not one of the model's classes {list(classes or [])}"
                )
            score = proba[:, column[0]]
            y_bin = is_positive(y_true, positive).astype(int)
            if len(np.unique(y_bin)) == 2:
                out["roc_auc"] = m.roc_auc_score(y_bin, score)
                out["pr_auc"] = m.average_precision_score(y_bin, score)
            out["log_loss"] = m.log_loss(y_bin, score, labels=[0, 1])
    else:
        out["f1_macro"] = m.f1_score(y_true, pred, average="macro", zero_division=0)
        if proba is not None:
            out["log_loss"] = m.log_loss(y_true, proba, labels=classes)
    return {k: float(v) for k, v in out.items()}
