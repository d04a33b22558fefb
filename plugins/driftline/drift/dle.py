"""Direct loss estimation (DLE) for regression: a model of the champion's loss, fitted on the reference.

See `driftline.drift.estimation` for the method and its band.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from driftline.drift.estimation import DLE_METRICS, Estimated, EstimationInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PREDICTION_COLUMN = "__driftline_prediction__"


def _loss(metric: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    import numpy as np

    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    out: np.ndarray = np.abs(err) if metric == "mae" else err * err
    return out


def _loss_frame(X: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    out = X.copy()
    out[PREDICTION_COLUMN] = pred.astype(float)
    return out


def dle(
    metric: str,
    features: list[Any],
    ref_X: pd.DataFrame,
    ref_y: np.ndarray,
    ref_pred: np.ndarray,
    cur_X: pd.DataFrame,
    cur_pred: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
) -> Estimated:
    """DLE of `metric` (mae or rmse): a loss model fitted on the reference, applied to the current rows."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from driftline.config.models import Feature
    from driftline.training.estimators import make_pipeline

    if metric not in DLE_METRICS:
        raise EstimationInputError(f"metric {metric!r} has no direct loss estimate (one of {DLE_METRICS})")
    loss = _loss(metric, ref_y, ref_pred)
    if not np.all(np.isfinite(loss)):
        raise EstimationInputError(
            "the reference loss has NaN or infinite values (NaN predictions or labels)"
        )
    inputs = [*features, Feature(name=PREDICTION_COLUMN, type="float")]

    def model() -> Any:
        est = HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, random_state=seed)
        return make_pipeline(est, inputs)

    frame = _loss_frame(ref_X, ref_pred)
    oof = np.zeros(len(loss))
    # one OpenMP thread: on a shared 2-core worker the default thread pool made each fit 10x slower
    with threadpool_limits(1):
        for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(frame):
            oof[test] = model().fit(frame.iloc[train], loss[train]).predict(frame.iloc[test])
        fitted = model().fit(frame, loss)
        predicted = np.maximum(np.asarray(fitted.predict(_loss_frame(cur_X, cur_pred)), dtype=float), 0.0)
    # The loss's spread grows with its size (errors are larger where the loss is): the residual
    # scales with the predicted loss, so the band widens where the current rows have larger losses
    # (a covariate shift towards harder rows) instead of keeping the reference's width.
    oof = np.maximum(oof, 0.0)
    floor = max(0.1 * float(oof.mean()), 1e-12)
    ref_scale, cur_scale = np.maximum(oof, floor), np.maximum(predicted, floor)
    ratio_sd = float(np.std((loss - oof) / ref_scale, ddof=1))
    residual_sd = float(np.std(loss - oof, ddof=1))
    mean_loss = float(predicted.mean())
    se_rows = ratio_sd * math.sqrt(float(np.sum(cur_scale**2))) / len(predicted)
    se_bias = (
        ratio_sd
        * math.sqrt(float(np.sum(ref_scale**2)))
        / len(loss)
        * float(cur_scale.mean() / ref_scale.mean())
    )
    se_mean = math.sqrt(se_rows**2 + se_bias**2)
    if metric == "mae":
        return Estimated(mean_loss, se_mean, {"residual_sd": residual_sd, "relative_residual_sd": ratio_sd})
    rmse = math.sqrt(mean_loss)
    parts = {"residual_sd": residual_sd, "relative_residual_sd": ratio_sd}
    return Estimated(rmse, se_mean / (2 * rmse) if rmse > 0 else se_mean, parts)


def realised_regression(metric: str, y: Any, pred: Any) -> float:
    import numpy as np

    mean = float(np.mean(_loss(metric, np.asarray(y), np.asarray(pred))))
    return mean if metric == "mae" else math.sqrt(mean)
