"""Fast per-column drift statistics that reproduce Evidently 0.7.23's stat tests exactly.

Evidently's `DataDriftPreset` is slow on large data because every column's test runs three times
(once per legacy metric behind the preset), each time with correlations, histograms, scatter
aggregates and plotly figures. The statistic itself is cheap. This module computes the same
statistic, with the same method choice, the same threshold and the same comparison, once,
with vectorised NumPy/SciPy on already sorted arrays:

- method choice (Evidently's `_get_default_stattest`): after dropping nulls and +-inf,
  reference rows > 1000: numerical -> `wasserstein` (normed), or `jensenshannon` when the union
  of both sides has <= 5 distinct values; categorical -> `jensenshannon`.
  Reference rows <= 1000: numerical -> `ks`, or `chisquare` (3-5 distinct) / `z` (<= 2);
  categorical -> `chisquare` (> 2 distinct) or `z`.
- thresholds: the StatTest defaults (0.1 for distances, 0.05 for p-values) unless configured.
- decision: distances drift when `>= threshold`; `ks` when `p <= threshold`; `chisquare` and
  `z` when `p < threshold`.
- `wasserstein`: scipy's W1 distance (the CDF-difference integral, computed here from the
  merged sorted values) divided by `max(std(reference, ddof=0), 0.001)`.
- `jensenshannon`: scipy's `jensenshannon` (natural log) of the category shares, or of
  histograms over Sturges bins of both sides combined when the reference has > 20 distinct
  numerical values.
- `ks`: `scipy.stats.ks_2samp` p-value (the call Evidently makes).
- `psi`, `kl_div`, `hellinger`: Evidently's own implementation, called on the cleaned columns.

The agreement is checked by tests that run Evidently on the same data (numerical and categorical,
small and large samples, every method).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ColumnType = Literal["num", "cat"]

#: Evidently 0.7.23's StatTest.default_threshold per method (checked by a test against evidently).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "kl_div": 0.1,
    "hellinger": 0.1,
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
}
#: Column types each method accepts in Evidently (StatTest.allowed_feature_types).
METHOD_TYPES: dict[str, frozenset[str]] = {
    "wasserstein": frozenset({"num"}),
    "ks": frozenset({"num"}),
    "jensenshannon": frozenset({"num", "cat"}),
    "psi": frozenset({"num", "cat"}),
    "kl_div": frozenset({"num", "cat"}),
    "hellinger": frozenset({"num", "cat"}),
    "chisquare": frozenset({"cat"}),
    "z": frozenset({"cat"}),
}
#: How each method reads: a distance drifts at or above its threshold, a p-value below it.
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
SMALL_SAMPLE_ROWS = 1000  # Evidently: reference rows <= 1000 use the small-sample tests


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict. `drifted` is None only when the column could not be compared."""

    column: str
    column_type: ColumnType
    method: str | None
    threshold: float | None
    statistic: float | None
    drifted: bool | None
    status: Literal["ok", "current_all_null", "not_comparable", "constant_in_window"] = "ok"
    reason: str | None = None
    reference_rows: int = 0
    current_rows: int = 0
    #: calibrated decisions (driftline.drift.column_tests): the column's p-value, its level, and for
    #: distances the minimum effect (`threshold`); `p_adjusted` is Holm's across the dataset's columns
    p_value: float | None = None
    alpha: float | None = None
    p_adjusted: float | None = None
    decision: str = "evidently"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnDrift:
        return cls(**data)


def default_method(column_type: ColumnType, reference_rows: int, n_values: int) -> str:
    """Evidently's automatic method for a column (after nulls are dropped)."""
    if reference_rows <= SMALL_SAMPLE_ROWS:
        if column_type == "num" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if column_type == "num" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def is_drifted(method: str, statistic: float, threshold: float) -> bool:
    """Evidently's comparison for `method`."""
    if method == "ks":
        return bool(statistic <= threshold)
    if method in P_VALUE_METHODS:
        return bool(statistic < threshold)
    return bool(statistic >= threshold)


# --- cleaning -------------------------------------------------------------------------------


def clean_numeric(values: pd.Series) -> np.ndarray:
    """Values without nulls and +-inf (Evidently drops both), sorted.

    Integer columns stay integers: numpy's Sturges binning (used by histogram-based methods)
    depends on the dtype, exactly as in Evidently.
    """
    import numpy as np

    if values.dtype.kind in "iu":  # numpy integers cannot hold nulls
        arr = values.to_numpy(copy=True)
    elif str(values.dtype).startswith(("Int", "UInt")) and not values.isna().any():
        arr = values.to_numpy(dtype="int64")
    else:
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        arr = arr[np.isfinite(arr)]
    arr.sort(kind="quicksort")
    out: np.ndarray = arr
    return out


def clean_categorical(values: pd.Series) -> pd.Series:
    """Non-null values; a pandas `category` column is read as its values."""
    if str(values.dtype) == "category":
        values = values.astype("object")
    return values.dropna()


# --- numerical statistics on sorted arrays ---------------------------------------------------


def _merged(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    import numpy as np

    merged = np.concatenate([ref, cur])
    merged.sort(kind="quicksort")
    return merged


def distinct_count(merged_sorted: np.ndarray) -> int:
    import numpy as np

    if merged_sorted.size == 0:
        return 0
    return int(1 + np.count_nonzero(merged_sorted[1:] != merged_sorted[:-1]))


def wasserstein_sorted(ref: np.ndarray, cur: np.ndarray, merged: np.ndarray) -> float:
    """scipy.stats.wasserstein_distance(ref, cur) from sorted inputs (same CDF integral)."""
    import numpy as np

    deltas = np.diff(merged)
    points = merged[:-1]
    ref_cdf = np.searchsorted(ref, points, side="right") / ref.size
    cur_cdf = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * deltas))


def normed_wasserstein(ref: np.ndarray, cur: np.ndarray, merged: np.ndarray) -> float:
    """Evidently's `wasserstein`: W1 / max(std(reference), 0.001)."""
    import numpy as np

    norm = max(float(np.std(ref)), 0.001)
    return wasserstein_sorted(ref, cur, merged) / norm


def _histogram_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram(values, edges)[0] for sorted values (numpy's own searchsorted formulation)."""
    import numpy as np

    cum = np.concatenate(
        [sorted_values.searchsorted(edges[:-1], "left"), sorted_values.searchsorted(edges[-1:], "right")]
    )
    return np.diff(cum)


def _numeric_shares(ref: np.ndarray, cur: np.ndarray, merged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's get_binned_data for a numerical column (no zero filling)."""
    import numpy as np

    if distinct_count(ref) > 20:
        edges = np.histogram_bin_edges(merged, bins="sturges")
        return _histogram_sorted(ref, edges) / ref.size, _histogram_sorted(cur, edges) / cur.size
    keys = np.unique(merged)
    return _value_shares(ref, keys), _value_shares(cur, keys)


def _value_shares(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    import numpy as np

    counts = np.searchsorted(sorted_values, keys, "right") - np.searchsorted(sorted_values, keys, "left")
    return counts / sorted_values.size


def _value_counts(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.searchsorted(sorted_values, keys, "right") - np.searchsorted(sorted_values, keys, "left")


# --- shared count-based tests ------------------------------------------------------------------


def jensenshannon_shares(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    from scipy.spatial import distance

    return float(distance.jensenshannon(ref_shares, cur_shares))


def chisquare_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's chi-square p-value: observed current counts vs reference counts rescaled."""
    import numpy as np
    from scipy.stats import chisquare

    k_norm = cur_counts.sum() / ref_counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare(cur_counts.astype(float), ref_counts * k_norm)[1])


def z_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's two-proportion z-test p-value; counts are ordered by sorted key, first key = 0."""
    import numpy as np
    from scipy.stats import norm

    ref_present = np.count_nonzero(ref_counts)
    cur_present = np.count_nonzero(cur_counts)
    if ref_present == 1 and cur_present == 1 and np.argmax(ref_counts) == np.argmax(cur_counts):
        return 1.0
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    p1 = float(ref_counts[1:].sum()) / n1
    p2 = float(cur_counts[1:].sum()) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _evidently_stattest(method: str, ref: Any, cur: Any, column_type: ColumnType, threshold: float) -> float:
    """Evidently's own implementation (psi, kl_div, hellinger) on the cleaned columns."""
    import pandas as pd
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType as EvColumnType

    ev_type = EvColumnType.Numerical if column_type == "num" else EvColumnType.Categorical
    ref_s, cur_s = pd.Series(ref).reset_index(drop=True), pd.Series(cur).reset_index(drop=True)
    test = get_stattest(ref_s, cur_s, ev_type, method)
    return float(test(ref_s.copy(), cur_s.copy(), ev_type, threshold).drift_score)


# --- the entry point -------------------------------------------------------------------------


def column_drift(
    column: str,
    reference: pd.Series,
    current: pd.Series,
    column_type: ColumnType,
    method: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """Drift of one column, as Evidently would decide it on the same (full) data.

    `method`/`threshold` None mean Evidently's defaults. A column with no usable value in the
    reference cannot be compared (`drifted` None); one whose current values are all null while the
    reference has values is drifted (status `current_all_null`): every value changed to missing.
    """
    if method is not None and column_type not in METHOD_TYPES.get(method, frozenset()):
        allowed = sorted(m for m, types in METHOD_TYPES.items() if column_type in types)
        raise ValueError(
            f"drift method {method!r} does not apply to {column_type} column {column!r}: use {allowed}"
        )
    if column_type == "num":
        ref: Any = clean_numeric(reference)
        cur: Any = clean_numeric(current)
    else:
        ref = clean_categorical(reference)
        cur = clean_categorical(current)
    n_ref, n_cur = len(ref), len(cur)
    base: dict[str, Any] = {
        "column": column,
        "column_type": column_type,
        "reference_rows": n_ref,
        "current_rows": n_cur,
    }
    if n_ref == 0:
        return ColumnDrift(
            **base,
            method=method,
            threshold=threshold,
            statistic=None,
            drifted=None,
            status="not_comparable",
            reason="the reference has no non-null value in this column: nothing to compare with",
        )
    if n_cur == 0:
        return ColumnDrift(
            **base,
            method=method,
            threshold=threshold,
            statistic=None,
            drifted=True,
            status="current_all_null",
            reason="every current value is null (or +-inf) while the reference has values",
        )
    if column_type == "num":
        statistic, chosen = _numeric_statistic(ref, cur, method, threshold)
    else:
        statistic, chosen = _categorical_statistic(ref, cur, method, threshold)
    actual_threshold = DEFAULT_THRESHOLDS[chosen] if threshold is None else float(threshold)
    return ColumnDrift(
        **base,
        method=chosen,
        threshold=actual_threshold,
        statistic=statistic,
        drifted=is_drifted(chosen, statistic, actual_threshold),
    )


def _numeric_statistic(
    ref: np.ndarray, cur: np.ndarray, method: str | None, threshold: float | None
) -> tuple[float, str]:
    from scipy.stats import ks_2samp

    merged = _merged(ref, cur)
    chosen = method or default_method("num", ref.size, distinct_count(merged))
    if chosen == "wasserstein":
        return normed_wasserstein(ref, cur, merged), chosen
    if chosen == "ks":
        return float(ks_2samp(ref, cur)[1]), chosen
    if chosen == "jensenshannon":
        ref_shares, cur_shares = _numeric_shares(ref, cur, merged)
        return jensenshannon_shares(ref_shares, cur_shares), chosen
    if chosen in ("chisquare", "z"):  # only reached by the automatic choice for <= 5 values
        import numpy as np

        keys = np.unique(merged)
        ref_counts, cur_counts = _value_counts(ref, keys), _value_counts(cur, keys)
        test = chisquare_counts if chosen == "chisquare" else z_counts
        return test(ref_counts, cur_counts), chosen
    t = DEFAULT_THRESHOLDS[chosen] if threshold is None else threshold
    return _evidently_stattest(chosen, ref, cur, "num", t), chosen


def _categorical_statistic(
    ref: pd.Series, cur: pd.Series, method: str | None, threshold: float | None
) -> tuple[float, str]:
    ref_vc = ref.value_counts()
    cur_vc = cur.value_counts()
    ref_vc, cur_vc = ref_vc[ref_vc > 0], cur_vc[cur_vc > 0]
    keys = list(set(ref_vc.index) | set(cur_vc.index))
    chosen = method or default_method("cat", len(ref), len(keys))
    if chosen in ("psi", "kl_div", "hellinger"):
        t = DEFAULT_THRESHOLDS[chosen] if threshold is None else threshold
        return _evidently_stattest(chosen, ref, cur, "cat", t), chosen
    if chosen == "z":
        keys = sorted(keys)
    ref_counts = ref_vc.reindex(keys, fill_value=0).to_numpy()
    cur_counts = cur_vc.reindex(keys, fill_value=0).to_numpy()
    if chosen == "jensenshannon":
        return jensenshannon_shares(ref_counts / len(ref), cur_counts / len(cur)), chosen
    if chosen == "chisquare":
        return chisquare_counts(ref_counts, cur_counts), chosen
    return z_counts(ref_counts, cur_counts), chosen
