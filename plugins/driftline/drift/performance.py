"""The label-free estimate for a model config: which rows, which metric, the verdict, and the
comparison with the realised metric once the labels arrive.

`estimate_performance` calibrates on the champion's reference rows it did not learn from (training's
held-out days, `driftline.drift.target.held_out_rows`), estimates `drift.performance_estimation.metric`
(default `registry.metric`) on the current rows (at most `drift.sample_size` per side, fixed seed) and
compares it with the same metric realised on those reference rows: the drop counts when it is at least
`max_drop` and significant at `alpha` (the one-sided lower bound of the drop, from both standard
errors, above 0). Every input that cannot give an honest estimate (too few reference rows, one class,
a model without scores, NaN scores, an unsupported metric) is "not evaluated" with the reason, never
a number.

`compare_with_realised` records an earlier estimate beside the metric its rows' labels gave, and
whether the band covered it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from driftline.drift.dle import dle, realised_regression
from driftline.drift.estimation import (
    LOWER_IS_BETTER,
    EstimationInputError,
    PerformanceEstimate,
    binary_scores,
    cbpe,
    estimated_drop,
    metric_rows,
    supported_metrics,
)

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import ModelConfig


def estimated_metric(config: ModelConfig) -> str:
    return config.drift.performance_estimation.metric or config.registry.metric


def not_evaluated(config: ModelConfig, reason: str, **facts: Any) -> PerformanceEstimate:
    settings = config.drift.performance_estimation
    metric = estimated_metric(config)
    return PerformanceEstimate(
        evaluated=False,
        metric=metric,
        direction="minimize" if metric in LOWER_IS_BETTER else "maximize",
        band=settings.band,
        max_drop=settings.max_drop,
        retrain=settings.retrain,
        reason=reason,
        **facts,
    )


def estimate_performance(
    model: Any, reference: pd.DataFrame, current: pd.DataFrame, config: ModelConfig, seed: int = 0
) -> PerformanceEstimate:
    """The champion's estimated metric on `current` (labels not used) and whether it dropped."""
    import numpy as np
    from scipy.stats import norm

    from driftline.drift.report import sample_rows
    from driftline.drift.target import held_out_rows
    from driftline.training.bootstrap import Predictions, metric_se
    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import is_positive, resolve_positive_class

    settings = config.drift.performance_estimation
    metric, task, label = estimated_metric(config), config.training.task, config.data.label
    if not settings.enabled:
        return not_evaluated(config, "drift.performance_estimation.enabled is false")
    if metric not in supported_metrics(task):
        return not_evaluated(config, f"{metric!r} has no label-free estimate for training.task {task!r}")
    if label not in reference.columns:
        return not_evaluated(config, f"the reference data has no label column {label!r}")
    held, note = held_out_rows(reference, config)
    held = sample_rows(held[held[label].notna()], config.drift.sample_size, seed)
    cur = sample_rows(current, config.drift.sample_size, seed + 1)
    facts: dict[str, Any] = {"rows": len(cur), "reference_rows": len(held)}
    if len(held) < settings.min_reference_rows:
        return not_evaluated(
            config,
            f"only {len(held)} labelled reference rows ({note}); "
            f"drift.performance_estimation.min_reference_rows is {settings.min_reference_rows}",
            **facts,
        )
    if len(cur) == 0:
        return not_evaluated(config, "no current rows to estimate on", **facts)
    features = config.data.features
    X_ref, X_cur = prepare_features(held, features), prepare_features(cur, features)
    details: dict[str, Any] = {"reference": note}
    try:
        if task == "binary_classification":
            positive = resolve_positive_class(
                held[label], config.data.positive_class, label, config.model.name
            )
            y = is_positive(held[label].to_numpy(), positive).astype(float)
            positives = int(y.sum())
            if min(positives, len(y) - positives) < settings.min_class_rows:
                return not_evaluated(
                    config,
                    f"the reference rows have {positives} of the positive class {positive!r} and "
                    f"{len(y) - positives} others: calibration needs at least "
                    f"{settings.min_class_rows} of each (drift.performance_estimation.min_class_rows)",
                    **facts,
                )
            ref_score, source = binary_scores(model, X_ref, positive)
            cur_score, _ = binary_scores(model, X_cur, positive)
            bad_ref, bad_cur = int((~np.isfinite(ref_score)).sum()), int((~np.isfinite(cur_score)).sum())
            if bad_ref or bad_cur:
                return not_evaluated(
                    config,
                    f"the champion's scores are NaN or infinite on {bad_ref} reference and {bad_cur} "
                    "current rows: no estimate from broken scores",
                    **facts,
                )
            if metric == "log_loss" and source != "predict_proba":
                return not_evaluated(
                    config, "log_loss needs predict_proba; the model has only a decision function"
                )
            ref_pred = is_positive(np.asarray(model.predict(X_ref)), positive)
            cur_pred = is_positive(np.asarray(model.predict(X_cur)), positive)
            est = cbpe(
                metric,
                ref_score,
                y,
                cur_score,
                cur_pred,
                calibration=settings.calibration,
                label_draws=settings.label_draws,
                calibration_resamples=settings.calibration_resamples,
                seed=seed,
            )
            reference_value = float(metric_rows(metric, y, ref_pred, ref_score)[0])
            preds = Predictions(task, y.astype(bool), ref_pred, ref_score, (), positive)
            details.update(method_note="CBPE, calibrated on the reference", score=source)
            details["positive_class"] = (
                positive if isinstance(positive, bool | int | float) else str(positive)
            )
            method = "cbpe"
        else:
            y_ref = held[label].to_numpy(dtype=float)
            ref_pred = np.asarray(model.predict(X_ref), dtype=float)
            cur_pred = np.asarray(model.predict(X_cur), dtype=float)
            if not np.all(np.isfinite(cur_pred)):
                bad = int((~np.isfinite(cur_pred)).sum())
                return not_evaluated(
                    config, f"the champion predicts NaN or infinity on {bad} current rows", **facts
                )
            est = dle(metric, list(features), X_ref, y_ref, ref_pred, X_cur, cur_pred, seed=seed)
            reference_value = realised_regression(metric, y_ref, ref_pred)
            preds = Predictions(task, y_ref, ref_pred, None)
            details.update(method_note="DLE, a gradient-boosting model of the loss fitted on the reference")
            method = "dle"
    except EstimationInputError as exc:
        return not_evaluated(config, str(exc), **facts)
    reference_se = metric_se(metric, preds, resamples=500, seed=seed) or 0.0
    z_band = float(norm.ppf(0.5 + settings.band / 2))
    drop, drop_lower, dropped = estimated_drop(
        metric, reference_value, reference_se, est.value, est.se, settings.max_drop, settings.alpha
    )
    if dropped:
        verdict = f"ESTIMATED DROP {drop:.4f} >= max_drop {settings.max_drop} and significant"
    elif drop < settings.max_drop:
        verdict = f"estimated drop {drop:.4f} is within max_drop {settings.max_drop}"
    else:
        verdict = f"estimated drop {drop:.4f} >= max_drop {settings.max_drop} but not significant at alpha {settings.alpha}"
    lower, upper = est.value - z_band * est.se, est.value + z_band * est.se
    return PerformanceEstimate(
        evaluated=True,
        metric=metric,
        method=method,
        direction="minimize" if metric in LOWER_IS_BETTER else "maximize",
        estimated_value=est.value,
        se=est.se,
        lower=lower,
        upper=upper,
        band=settings.band,
        reference_value=reference_value,
        reference_se=reference_se,
        drop=drop,
        drop_lower=drop_lower,
        max_drop=settings.max_drop,
        dropped=dropped,
        retrain=settings.retrain,
        rows=len(cur),
        reference_rows=len(held),
        reason=(
            f"estimated {metric} {est.value:.4f} ({settings.band:.0%} band [{lower:.4f}, {upper:.4f}], se "
            f"{est.se:.4f}) on {len(cur)} unlabelled rows vs {reference_value:.4f} realised on "
            f"{len(held)} reference rows: {verdict}"
        ),
        details={**details, **est.parts},
    )


def realised_performance(model: Any, rows: pd.DataFrame, config: ModelConfig, metric: str) -> float:
    """`metric` of `model` on labelled `rows`, computed as the estimate computes it (NaN if undefined)."""
    import numpy as np

    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import is_positive, resolve_positive_class

    label = config.data.label
    X = prepare_features(rows, config.data.features)
    if config.training.task == "regression":
        return realised_regression(metric, rows[label].to_numpy(dtype=float), np.asarray(model.predict(X)))
    positive = resolve_positive_class(rows[label], config.data.positive_class, label, config.model.name)
    y = is_positive(rows[label].to_numpy(), positive).astype(float)
    score, _ = binary_scores(model, X, positive)
    pred = is_positive(np.asarray(model.predict(X)), positive)
    return float(metric_rows(metric, y, pred, score)[0])


def compare_with_realised(
    estimate: dict[str, Any], realised: float, labelled_rows: int, estimated_rows: int
) -> dict[str, Any]:
    """An earlier estimate beside the metric realised on its labelled rows."""
    value, lower, upper = estimate.get("estimated_value"), estimate.get("lower"), estimate.get("upper")
    if value is None or lower is None or upper is None or math.isnan(realised):
        return {
            "realised": None if math.isnan(realised) else realised,
            "estimated": value,
            "labelled_rows": labelled_rows,
            "estimated_rows": estimated_rows,
            "error": None,
            "covered": None,
        }
    return {
        "metric": estimate.get("metric"),
        "estimated": float(value),
        "lower": float(lower),
        "upper": float(upper),
        "realised": float(realised),
        "error": float(value) - float(realised),
        "covered": bool(float(lower) <= realised <= float(upper)),
        "labelled_rows": labelled_rows,
        "estimated_rows": estimated_rows,
        "coverage": labelled_rows / estimated_rows if estimated_rows else None,
    }
