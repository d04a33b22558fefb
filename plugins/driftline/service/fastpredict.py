"""predict_proba of a fitted HistGradientBoosting* estimator without its per-call input checks.

A HistGradientBoosting estimator fitted with categorical features runs every `predict_proba` call
through an internal ColumnTransformer (an OrdinalEncoder over the categorical columns, a
`check_array` over the others) before it walks its trees. For one row that preprocessing is about
two thirds of the call (measured here: 1.7 of 2.6 ms per one-row call under cProfile), all of it
Python holding the GIL. The compiled scorer (driftline.service.scorer) already hands the estimator
a checked float64 matrix, so `compile_hgb(estimator)` reads the internal encoder's categories once
(per champion version) and replaces that step with a vectorised lookup; the trees are then walked
by the estimator's own `_predict_iterations` and turned into probabilities by its own loss, as
`predict_proba` does.

These are private scikit-learn attributes (`_preprocessor`, `_predictors`, `_predict_iterations`,
`_baseline_prediction`, `_loss`), so nothing here is trusted by itself: `compile_hgb` returns None
for any estimator of another shape or any attribute it cannot read, and `verified` compares the
fast path with `predict_proba` on probe rows (every known category, unknown ones, missing values)
and the scorer uses it only if every probability is exactly equal (driftline.service.scorer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FastProba = Callable[["np.ndarray"], "np.ndarray"]


def compile_hgb(estimator: Any) -> FastProba | None:
    """A function X (float64, the estimator's input columns) -> predict_proba(X), or None when the
    estimator is not a fitted HistGradientBoostingClassifier whose preprocessing this can replace."""
    import numpy as np

    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # a scikit-learn that moved them: the estimator's own predict_proba
        return None

    if not isinstance(estimator, HistGradientBoostingClassifier):
        return None
    try:
        pre = estimator._preprocessor
        mask = np.asarray(estimator.is_categorical_, dtype=bool) if pre is not None else None
        predictors = estimator._predictors
        baseline = estimator._baseline_prediction
        trees_per_iteration = int(estimator.n_trees_per_iteration_)
        loss = estimator._loss
        predict_iterations = estimator._predict_iterations
        width = int(estimator.n_features_in_)
        if pre is None or mask is None:
            categorical: list[tuple[int, np.ndarray]] = []
            numerical = np.arange(width)
        else:
            encoder = pre.named_transformers_["encoder"]
            cat_idx = np.flatnonzero(mask)
            num_idx = np.flatnonzero(~mask)
            slices = pre.output_indices_
            if (
                len(mask) != width
                or slices["encoder"] != slice(0, len(cat_idx))
                or slices["numerical"] != slice(len(cat_idx), width)
                or len(encoder.categories_) != len(cat_idx)
            ):
                return None
            categorical = []
            for j, cats in zip(cat_idx.tolist(), encoder.categories_, strict=True):
                known = np.asarray(cats, dtype=np.float64)
                if known.ndim != 1 or np.isnan(known[:-1]).any():
                    return None
                if len(known) and np.isnan(known[-1]):  # nan, when seen in training, sorts last
                    known = known[:-1]
                if len(known) > 1 and not bool(np.all(known[1:] > known[:-1])):
                    return None
                categorical.append((j, known))
            numerical = num_idx
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    n_cat = len(categorical)
    out_width = n_cat + len(numerical)
    if out_width != width:
        return None

    def proba(X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        Xp = np.empty((n, width), dtype=np.float64)
        for k, (j, known) in enumerate(categorical):
            column = X[:, j]
            at = np.searchsorted(known, column)
            inside = at < len(known)
            hit = np.zeros(n, dtype=bool)
            hit[inside] = known[at[inside]] == column[inside]
            Xp[:, k] = np.where(hit, at, np.nan)  # unknown and missing values: nan, as the encoder
        if len(numerical):
            Xp[:, n_cat:] = X[:, numerical]
        raw = np.zeros((n, trees_per_iteration), dtype=baseline.dtype, order="F")
        raw += baseline
        predict_iterations(Xp, predictors, raw, False, _openmp_effective_n_threads())
        return np.asarray(loss.predict_proba(raw))

    return proba


def verified(fast: FastProba, estimator: Any, X: np.ndarray, inputs: Any) -> bool:
    """`fast(X)` equals `estimator.predict_proba(inputs)` exactly (same shape, every value)."""
    import numpy as np

    try:
        mine = fast(X)
        theirs = np.asarray(estimator.predict_proba(inputs))
    except Exception:
        return False
    return bool(mine.shape == theirs.shape and np.array_equal(mine, theirs))
