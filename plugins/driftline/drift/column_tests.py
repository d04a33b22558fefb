"""One column's calibrated drift decision (the default): a two-sample test or a distance with its null.

`calibrated_column_drift` cleans the two sides as the Evidently-equivalent path does (nulls and
+-inf dropped; `driftline.drift.stats`), then:

- method None: numerical columns with more than 5 distinct values get `ks`, every other column
  `chisquare` (two-sample, sparse categories pooled). The choice does not depend on the reference
  size: both tests hold their level from 200 rows up (docs/reference/calibration.md).
- `ks` / `chisquare` / `z`: drifted when the p-value is below the level (`threshold` when given,
  else `drift.alpha`). `z` is the 2 x 2 case of the chi-square test (the pooled two-proportion z).
- distances: drifted when the distance is significant at `drift.alpha` against its null at these
  sizes (`calibrated.null_distribution`) AND at least the threshold (the minimum effect; Evidently's
  0.1 when not configured).

`statistic` keeps Evidently's meaning (the p-value for a test, the distance for a distance) so the
report and the monitoring metrics read as before; `p_value` is always the p-value.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from driftline.drift import calibrated as cal
from driftline.drift.stats import (
    DEFAULT_THRESHOLDS,
    METHOD_TYPES,
    ColumnDrift,
    ColumnType,
    clean_categorical,
    clean_numeric,
    distinct_count,
    normed_wasserstein,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def calibrated_method(column_type: ColumnType, n_values: int) -> str:
    """The default method: KS for numerical columns with > 5 distinct values, else chi-square."""
    return "ks" if column_type == "num" and n_values > 5 else "chisquare"


def column_seed(seed: int, column: str) -> int:
    """A per-column seed for the resampled nulls (stable across processes: crc32, not hash())."""
    return (int(seed) * 1_000_003 + zlib.crc32(column.encode("utf-8"))) % (2**32)


def calibrated_column_drift(
    column: str,
    reference: pd.Series,
    current: pd.Series,
    column_type: ColumnType,
    method: str | None = None,
    threshold: float | None = None,
    *,
    alpha: float = cal.DEFAULT_ALPHA,
    resamples: int = cal.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> ColumnDrift:
    """Drift of one column with a decision whose false-alarm rate holds at every sample size."""
    if method is not None and column_type not in METHOD_TYPES.get(method, frozenset()):
        allowed = sorted(m for m, types in METHOD_TYPES.items() if column_type in types)
        raise ValueError(
            f"drift method {method!r} does not apply to {column_type} column {column!r}: use {allowed}"
        )
    if column_type == "num":
        ref_num = clean_numeric(reference)
        cur_num = clean_numeric(current)
        n_ref, n_cur = int(ref_num.size), int(cur_num.size)
    else:
        ref_cat = clean_categorical(reference)
        cur_cat = clean_categorical(current)
        n_ref, n_cur = len(ref_cat), len(cur_cat)
    col_seed = column_seed(seed, column)

    def statistic() -> tuple[str, float, float]:
        if column_type == "num":
            return _numeric(ref_num, cur_num, method, resamples, col_seed)
        return categorical_test(ref_cat.value_counts(), cur_cat.value_counts(), method, resamples, col_seed)

    return calibrated_verdict(
        column, column_type, n_ref, n_cur, method, threshold, alpha=alpha, statistic=statistic
    )


def calibrated_verdict(
    column: str,
    column_type: ColumnType,
    n_ref: int,
    n_cur: int,
    method: str | None,
    threshold: float | None,
    *,
    alpha: float,
    statistic: Callable[[], tuple[str, float, float]],
) -> ColumnDrift:
    """The calibrated verdict of one column from its cleaned sizes and its test.

    `statistic()` returns (method chosen, statistic, p-value); it runs only when both sides have
    values. Any engine calls this: the pandas one on the values, an out-of-core one on aggregates
    (`driftline.engines.aggregates`).
    """
    base: dict[str, Any] = {
        "column": column,
        "column_type": column_type,
        "reference_rows": n_ref,
        "current_rows": n_cur,
        "decision": "calibrated",
        "alpha": alpha,
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
            p_value=0.0,
            status="current_all_null",
            reason="every current value is null (or +-inf) while the reference has values",
        )
    chosen, stat, p_value = statistic()
    if chosen in cal.DISTANCE_METHODS:
        level = alpha
        min_effect = DEFAULT_THRESHOLDS[chosen] if threshold is None else float(threshold)
        drifted = p_value < level and stat >= min_effect
        shown_threshold = min_effect
    else:
        level = alpha if threshold is None else float(threshold)
        drifted = p_value < level
        shown_threshold = level
    return ColumnDrift(
        **{**base, "alpha": level},
        method=chosen,
        threshold=shown_threshold,
        statistic=stat,
        drifted=bool(drifted),
        p_value=p_value,
    )


def decide(method: str, p_value: float, statistic: float, threshold: float, alpha: float) -> bool:
    """The calibrated comparison for a (possibly Holm-adjusted) p-value."""
    if method in cal.DISTANCE_METHODS:
        return p_value < alpha and statistic >= threshold
    return p_value < threshold


def _numeric(
    ref: np.ndarray, cur: np.ndarray, method: str | None, resamples: int, seed: int
) -> tuple[str, float, float]:
    import numpy as np

    merged = np.concatenate([ref, cur])
    merged.sort(kind="quicksort")
    chosen = method or calibrated_method("num", distinct_count(merged))
    if chosen == "ks":
        _, p = cal.ks_two_sample(ref, cur)
        return chosen, p, p
    if chosen in ("chisquare", "z"):
        keys = np.unique(merged)
        ref_counts = np.searchsorted(ref, keys, "right") - np.searchsorted(ref, keys, "left")
        cur_counts = np.searchsorted(cur, keys, "right") - np.searchsorted(cur, keys, "left")
        _, p = cal.chi2_two_sample(ref_counts, cur_counts)
        return chosen, p, p
    if chosen == "wasserstein":
        observed = normed_wasserstein(ref, cur, merged)
        if ref.size + cur.size <= cal.PERMUTATION_MAX_ROWS:
            null = cal.permutation_null_wasserstein(ref, cur, resamples=resamples, seed=seed)
            return chosen, observed, cal.null_p_value(null, observed)
        atoms, counts = cal.atoms_and_counts(ref)
        null = cal.null_distribution(
            "wasserstein", counts, cur.size, atoms=atoms, resamples=resamples, seed=seed
        )
        return chosen, observed, cal.null_p_value(null, observed)
    edges = cal.reference_bins(ref)
    ref_counts_f = cal.binned_counts(ref, edges)
    cur_counts_f = cal.binned_counts(cur, edges)
    if ref.size + cur.size <= cal.PERMUTATION_MAX_ROWS:
        observed = float(cal.share_distance(chosen, ref_counts_f / ref.size, cur_counts_f / cur.size))
        values = np.unique(merged)
        ref_mult = np.searchsorted(ref, values, "right") - np.searchsorted(ref, values, "left")
        cur_mult = np.searchsorted(cur, values, "right") - np.searchsorted(cur, values, "left")
        null = cal.permutation_null_rebinned(
            chosen, values, ref_mult, cur_mult, resamples=resamples, seed=seed
        )
        return chosen, observed, cal.null_p_value(null, observed)
    return share_distance_test(chosen, ref_counts_f, cur_counts_f, resamples, seed)


def categorical_test(
    ref_counts: Mapping[Any, int] | pd.Series,
    cur_counts: Mapping[Any, int] | pd.Series,
    method: str | None,
    resamples: int,
    seed: int,
) -> tuple[str, float, float]:
    """(method, statistic, p-value) of a categorical column from its value counts (nulls left out).

    Categories are ordered as the reference's sorted by their text, then the ones only the current
    window has (the order pooling and the null's known categories depend on).
    """
    import numpy as np

    ref_vc = {k: int(v) for k, v in dict(ref_counts).items() if v > 0}
    cur_vc = {k: int(v) for k, v in dict(cur_counts).items() if v > 0}
    ref_keys = sorted(ref_vc, key=str)
    keys = ref_keys + sorted(set(cur_vc) - set(ref_vc), key=str)
    chosen = method or calibrated_method("cat", len(keys))
    ref_arr = np.array([ref_vc.get(k, 0) for k in keys], dtype=float)
    cur_arr = np.array([cur_vc.get(k, 0) for k in keys], dtype=float)
    if chosen in ("chisquare", "z"):
        _, p = cal.chi2_two_sample(ref_arr, cur_arr)
        return chosen, p, p
    return share_distance_test(chosen, ref_arr, cur_arr, resamples, seed, known=len(ref_keys))


def share_distance_test(
    method: str,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    resamples: int,
    seed: int,
    known: int | None = None,
) -> tuple[str, float, float]:
    """A share distance on aligned counts and its p-value against the null from the reference."""
    observed = float(cal.share_distance(method, ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))
    if ref_counts.sum() + cur_counts.sum() <= cal.PERMUTATION_MAX_ROWS:
        null = cal.permutation_null_shares(method, ref_counts, cur_counts, resamples=resamples, seed=seed)
        return method, observed, cal.null_p_value(null, observed)
    null_counts = ref_counts if known is None else ref_counts[:known]
    null = cal.null_distribution(method, null_counts, int(cur_counts.sum()), resamples=resamples, seed=seed)
    return method, observed, cal.null_p_value(null, observed)
