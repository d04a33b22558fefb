"""Drift decisions from mergeable aggregates: pure functions of counts and arrays.

An out-of-core engine (DuckDB, Spark) never holds a column in memory. It reads each column once
(`driftline.engines.duckdb_drift`) and hands these functions, per column and side:

- numerical columns: the counts of the finite values on one fine grid shared by both sides (the
  grid spans both sides' range, read from the parquet statistics before the scan): integers one
  bin per value while the range is at most `FINE_BINS`, otherwise `FINE_BINS` equal-width bins;
  per bin the count, the sum, the minimum and the maximum. When every bin holds a single value on
  both sides the counts ARE the exact value counts (`NumericDetail.values`); otherwise the bins
  are the column's CDF at the grid edges. The count, mean and population variance come from the
  bins exactly;
- categorical columns: the count of each value (nulls left out).

Both decisions run on these aggregates with the pandas engine's own functions
(`driftline.drift.stats` for `drift.decision: evidently`, `driftline.drift.column_tests` and
`driftline.drift.calibrated` for `calibrated`), column by column
(tests/unit/engines/test_aggregates.py checks every column against the pandas engine):

- exact from the aggregates: the method choice; chi-square and z on counts (Evidently's one-sample
  and the calibrated two-sample test); Jensen-Shannon on category or value shares; and every
  numerical statistic of a column whose value counts are exact (KS, normed Wasserstein and the
  share distances with their nulls: the reference's quantile bins and atoms come from the counts);
- small columns: a column with at most `VALUES_ROWS` values on both sides (where scipy's KS is exact
  and the calibrated distances use permutation nulls) is read whole and decided on its values;
- approximate: a column with more distinct values than fine bins. KS's D is taken at the grid
  edges (the true D lies within the largest bin mass above it); normed Wasserstein is integrated
  from the two CDFs at the edges, linear between edges, its error at most
  `sum_b width_b * (p_ref_b + p_cur_b)` / the reference's std; the calibrated Wasserstein null
  draws from the bins' means instead of the reference's values, the share distances cut the
  reference's quantile bins at the nearest grid edge. The bound is reported as
  `statistic_error`; a column whose threshold lies within it is flagged `near_threshold`. With
  65,536 bins the bound is far below the sampling noise of the columns tested here, and the
  decisions equal the pandas engine's on every test column; a column with a few extreme outliers
  concentrates its mass in few equal-width bins, and its bound then says so.
Methods that need the values themselves on the Evidently path (psi, kl_div, hellinger: Evidently's
implementations) are refused above `compute.exact_below_rows` rows with an error naming the column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.drift.stats import (
    DEFAULT_THRESHOLDS,
    METHOD_TYPES,
    ColumnDrift,
    ColumnType,
    chisquare_counts,
    default_method,
    is_drifted,
    jensenshannon_shares,
    z_counts,
)
from driftline.exceptions import DriftInputError

if TYPE_CHECKING:
    import numpy as np

#: The merged distinct count reported when the bins are not exact (any value above 20 decides alike).
EXACT_VALUES = 1000
#: Bins of the shared grid (equal-width over the merged range; integers one per value up to this span).
FINE_BINS = 65_536
#: A column with at most this many values on both sides is decided on its values (scipy's exact KS
#: below it; the calibrated distances' permutation nulls up to PERMUTATION_MAX_ROWS).
VALUES_ROWS = 10_000
#: Methods computed from aggregates; the others need the values.
AGGREGATE_METHODS = frozenset({"wasserstein", "ks", "jensenshannon", "chisquare", "z"})


@dataclass(frozen=True)
class NumericSummary:
    """One side of a numerical column: its finite values' count, range and moments."""

    rows: int
    min: float | None
    max: float | None
    mean: float | None
    var: float | None  # population variance (numpy's std ddof=0, squared)
    approx_distinct: int


def sturges_edges(ref: NumericSummary, cur: NumericSummary) -> list[float]:
    """np.histogram_bin_edges(merged, bins='sturges') from the merged count and range."""
    import numpy as np

    n = ref.rows + cur.rows
    lo = min(v for v in (ref.min, cur.min) if v is not None)
    hi = max(v for v in (ref.max, cur.max) if v is not None)
    # numpy: sturges width = ptp / (log2(n) + 1), bins = ceil(ptp / width); equal edges over [lo, hi]
    probe = np.array([lo, hi], dtype="float64")
    edges = np.histogram_bin_edges(probe, bins=_sturges_bins(n, float(hi) - float(lo)), range=(lo, hi))
    return [float(e) for e in edges]


def _sturges_bins(n: int, ptp: float) -> int:
    import numpy as np

    if ptp == 0:
        return 1
    width = ptp / (np.log2(n) + 1.0)
    return int(np.ceil(ptp / width))


@dataclass
class NumericDetail:
    """The second-pass aggregates of one side of a numerical column (one of the two is set)."""

    values: dict[float, int] | None = None  # exact value -> count
    cdf: list[int] | None = None  # count(x < e) at the grid edges (the last: every value)
    bin_means: list[float] | None = None  # the mean of each non-empty bin (calibrated Wasserstein null)
    bin_counts: list[int] | None = None  # ... and its count
    below: list[int] | None = None  # count(x < e) at the Sturges edges (Jensen-Shannon only)
    constant_hits: int | None = None  # reference: count(x == the current's constant value)


@dataclass
class ColumnAggregates:
    """Everything the engine computed for one column on both sides."""

    name: str
    column_type: ColumnType
    reference_rows: int
    current_rows: int
    ref: NumericSummary | None = None
    cur: NumericSummary | None = None
    ref_detail: NumericDetail = field(default_factory=NumericDetail)
    cur_detail: NumericDetail = field(default_factory=NumericDetail)
    edges: list[float] | None = None
    sturges: list[float] | None = None
    ref_counts: dict[Any, int] | None = None  # categorical
    cur_counts: dict[Any, int] | None = None


def empty_numeric(name: str) -> ColumnAggregates:
    """A numerical column with no finite value on either side."""
    empty = NumericSummary(0, None, None, None, None, 0)
    return ColumnAggregates(name, "num", 0, 0, ref=empty, cur=empty)


def grid(span: tuple[float, float], integer: bool) -> tuple[float, float, int, float]:
    """The shared fine grid over both sides' range: (low edge, bin width, bins, the range's midpoint).
    An engine bins each finite value v at least(greatest(floor((v - low) / width), 0), bins - 1)."""
    lo, hi = span
    if integer and hi - lo + 1 <= FINE_BINS:
        bins, width = int(hi - lo) + 1, 1.0
    elif hi > lo:
        bins, width = FINE_BINS, (hi - lo) / FINE_BINS
    else:
        bins, width = 1, 1.0
    return lo, width, bins, (lo + hi) / 2


def numeric_from_bins(
    name: str, rows: Any, lo: float, width: float, bins: int, centre: float
) -> tuple[ColumnAggregates, bool]:
    """A numerical column's aggregates from the engine's rows (side, bin, count, sum(v - centre),
    sum((v - centre)^2), min, max), one per non-empty (side, bin); and whether the engine should
    count the values themselves (at most 20 non-empty bins, several values in one)."""
    import numpy as np

    counts = np.zeros((2, bins), dtype=np.int64)
    sums = np.zeros((2, bins))
    squares = np.zeros(2)
    lows = np.full((2, bins), np.inf)
    highs = np.full((2, bins), -np.inf)
    for side, b, n, s, s2, mn, mx in rows:
        counts[side, b], sums[side, b], lows[side, b], highs[side, b] = n, s, mn, mx
        squares[side] += s2
    summaries = []
    for side in (0, 1):
        n = int(counts[side].sum())
        if n == 0:
            summaries.append(NumericSummary(0, None, None, None, None, 0))
            continue
        shifted_mean = float(sums[side].sum()) / n
        var = max(float(squares[side]) / n - shifted_mean**2, 0.0)
        used = counts[side] > 0
        summaries.append(
            NumericSummary(
                n,
                float(lows[side][used].min()),
                float(highs[side][used].max()),
                shifted_mean + centre,
                var,
                int(used.sum()),
            )
        )
    agg = ColumnAggregates(
        name, "num", summaries[0].rows, summaries[1].rows, ref=summaries[0], cur=summaries[1]
    )
    merged_low, merged_high = lows.min(axis=0), highs.max(axis=0)
    used = counts.sum(axis=0) > 0
    for side, detail in ((0, agg.ref_detail), (1, agg.cur_detail)):
        here = counts[side] > 0
        detail.bin_counts = counts[side][here].tolist()
        detail.bin_means = (sums[side][here] / counts[side][here] + centre).tolist()
        detail.cdf = [0, *np.cumsum(counts[side]).tolist()]
    few_bins = False
    if bool(np.all(merged_low[used] == merged_high[used])):  # one value per bin: the exact value counts
        for side, detail in ((0, agg.ref_detail), (1, agg.cur_detail)):
            here = counts[side] > 0
            detail.values = dict(zip(lows[side][here].tolist(), counts[side][here].tolist(), strict=True))
    elif int(used.sum()) <= 20:
        few_bins = True
    agg.edges = (lo + width * np.arange(bins + 1)).tolist()
    return agg, few_bins


@dataclass(frozen=True)
class AggregateDrift:
    """A column's verdict and how exact its statistic is."""

    drift: ColumnDrift
    statistic_error: float = 0.0
    near_threshold: bool = False


def column_drift_from_aggregates(
    agg: ColumnAggregates, method: str | None, threshold: float | None
) -> AggregateDrift:
    """The pandas engine's decision for one column, from the engine's aggregates."""
    if method is not None and agg.column_type not in METHOD_TYPES.get(method, frozenset()):
        allowed = sorted(m for m, types in METHOD_TYPES.items() if agg.column_type in types)
        raise ValueError(
            f"drift method {method!r} does not apply to {agg.column_type} column {agg.name!r}: use {allowed}"
        )
    base: dict[str, Any] = {
        "column": agg.name,
        "column_type": agg.column_type,
        "reference_rows": agg.reference_rows,
        "current_rows": agg.current_rows,
    }
    if agg.reference_rows == 0:
        return AggregateDrift(
            ColumnDrift(
                **base,
                method=method,
                threshold=threshold,
                statistic=None,
                drifted=None,
                status="not_comparable",
                reason="the reference has no non-null value in this column: nothing to compare with",
            )
        )
    if agg.current_rows == 0:
        return AggregateDrift(
            ColumnDrift(
                **base,
                method=method,
                threshold=threshold,
                statistic=None,
                drifted=True,
                status="current_all_null",
                reason="every current value is null (or +-inf) while the reference has values",
            )
        )
    if agg.column_type == "cat":
        statistic, chosen, error = _categorical(agg, method)
    else:
        statistic, chosen, error = _numerical(agg, method)
    actual = DEFAULT_THRESHOLDS[chosen] if threshold is None else float(threshold)
    return AggregateDrift(
        ColumnDrift(
            **base,
            method=chosen,
            threshold=actual,
            statistic=statistic,
            drifted=is_drifted(chosen, statistic, actual),
        ),
        statistic_error=error,
        near_threshold=error > 0 and abs(statistic - actual) <= error,
    )


def _refuse(agg: ColumnAggregates, method: str) -> DriftInputError:
    return DriftInputError(
        f"drift.columns.{agg.name}.method {method!r} needs the column's values (Evidently's "
        f"implementation); on an out-of-core engine above compute.exact_below_rows rows use "
        f"{sorted(AGGREGATE_METHODS)}"
    )


def _categorical(agg: ColumnAggregates, method: str | None) -> tuple[float, str, float]:
    import numpy as np

    ref_counts = {k: v for k, v in (agg.ref_counts or {}).items() if v > 0}
    cur_counts = {k: v for k, v in (agg.cur_counts or {}).items() if v > 0}
    keys: list[Any] = list(set(ref_counts) | set(cur_counts))
    chosen = method or default_method("cat", agg.reference_rows, len(keys))
    if chosen not in AGGREGATE_METHODS:
        raise _refuse(agg, chosen)
    if chosen == "z":
        keys = sorted(keys)
    ref = np.array([ref_counts.get(k, 0) for k in keys], dtype="int64")
    cur = np.array([cur_counts.get(k, 0) for k in keys], dtype="int64")
    if chosen == "jensenshannon":
        return jensenshannon_shares(ref / agg.reference_rows, cur / agg.current_rows), chosen, 0.0
    if chosen == "chisquare":
        return chisquare_counts(ref, cur), chosen, 0.0
    return z_counts(ref, cur), chosen, 0.0


def merged_distinct(agg: ColumnAggregates) -> int:
    """The exact distinct count of both sides together, or EXACT_VALUES + 1 when above it."""
    if agg.ref_detail.values is None or agg.cur_detail.values is None:
        return EXACT_VALUES + 1
    return len(set(agg.ref_detail.values) | set(agg.cur_detail.values))


def _numerical(agg: ColumnAggregates, method: str | None) -> tuple[float, str, float]:
    import numpy as np

    assert agg.ref is not None and agg.cur is not None
    chosen = method or default_method("num", agg.reference_rows, merged_distinct(agg))
    if chosen not in AGGREGATE_METHODS:
        raise _refuse(agg, chosen)
    exact = agg.ref_detail.values is not None and agg.cur_detail.values is not None
    if exact:
        assert agg.ref_detail.values is not None and agg.cur_detail.values is not None
        keys = np.array(sorted(set(agg.ref_detail.values) | set(agg.cur_detail.values)), dtype="float64")
        ref = np.array([agg.ref_detail.values.get(k, 0) for k in keys.tolist()], dtype="int64")
        cur = np.array([agg.cur_detail.values.get(k, 0) for k in keys.tolist()], dtype="int64")
        if chosen in ("chisquare", "z"):
            return (chisquare_counts if chosen == "chisquare" else z_counts)(ref, cur), chosen, 0.0
        if chosen == "jensenshannon" and len(agg.ref_detail.values) <= 20:
            return jensenshannon_shares(ref / ref.sum(), cur / cur.sum()), chosen, 0.0
        if chosen in ("wasserstein", "ks"):
            ref_cdf, cur_cdf = np.cumsum(ref) / ref.sum(), np.cumsum(cur) / cur.sum()
            if chosen == "ks":
                return ks_pvalue(float(np.max(np.abs(ref_cdf - cur_cdf))), agg), chosen, 0.0
            w1 = float(np.sum(np.abs(ref_cdf - cur_cdf)[:-1] * np.diff(keys)))
            return w1 / _norm(agg.ref), chosen, 0.0
    if chosen == "jensenshannon":
        ref_b = _bins_from_below(agg.ref_detail.below, agg.reference_rows)
        cur_b = _bins_from_below(agg.cur_detail.below, agg.current_rows)
        return jensenshannon_shares(ref_b / agg.reference_rows, cur_b / agg.current_rows), chosen, 0.0
    if agg.edges is None or agg.ref_detail.cdf is None or agg.cur_detail.cdf is None:
        raise DriftInputError(f"{agg.name}: the engine computed no histogram for {chosen}")
    edges = np.array(agg.edges, dtype="float64")
    ref_cdf = np.array(agg.ref_detail.cdf, dtype="float64") / agg.reference_rows
    cur_cdf = np.array(agg.cur_detail.cdf, dtype="float64") / agg.current_rows
    if chosen == "ks":
        p, error = ks_from_cdf(agg, ref_cdf, cur_cdf)
        return p, chosen, error
    w1, bound = wasserstein_from_cdf(edges, ref_cdf, cur_cdf)
    norm = _norm(agg.ref)
    return w1 / norm, chosen, bound / norm


def _norm(ref: NumericSummary | None) -> float:
    assert ref is not None and ref.var is not None
    import math

    return max(math.sqrt(max(float(ref.var), 0.0)), 0.001)


def _bins_from_below(below: list[int] | None, rows: int) -> np.ndarray:
    """np.histogram counts from count(x < e) at every edge but the last (the last bin is closed)."""
    import numpy as np

    if below is None:
        raise DriftInputError("the engine computed no Sturges counts for a Jensen-Shannon column")
    cum = np.array([*below, rows], dtype="int64")
    out: np.ndarray = np.diff(cum)
    return out


def ks_from_cdf(agg: ColumnAggregates, ref_cdf: np.ndarray, cur_cdf: np.ndarray) -> tuple[float, float]:
    """KS's asymptotic p-value with D taken at the grid edges, and how far the true p can be below it:
    D lies in [D_edges, D_edges + the largest bin mass]."""
    import numpy as np

    d = np.abs(ref_cdf - cur_cdf)
    mass = np.diff(ref_cdf) + np.diff(cur_cdf)
    stat = float(d.max())
    p = ks_pvalue(stat, agg)
    p_low = ks_pvalue(stat + float(mass.max() if mass.size else 0.0), agg)
    return p, abs(p - p_low)


def wasserstein_from_cdf(edges: np.ndarray, ref_cdf: np.ndarray, cur_cdf: np.ndarray) -> tuple[float, float]:
    """W1 between two distributions known by their CDFs at `edges`, linear between edges, and the
    bound on its error: sum over bins of width * (reference mass + current mass) in the bin."""
    import numpy as np

    if edges.size < 2:
        return 0.0, 0.0
    width = np.diff(edges)
    d0 = ref_cdf[:-1] - cur_cdf[:-1]
    d1 = ref_cdf[1:] - cur_cdf[1:]
    same = (d0 * d1) >= 0
    area = np.where(
        same,
        width * (np.abs(d0) + np.abs(d1)) / 2,
        width * (d0 * d0 + d1 * d1) / (2 * np.maximum(np.abs(d0) + np.abs(d1), 1e-300)),
    )
    mass = np.diff(ref_cdf) + np.diff(cur_cdf)
    return float(area.sum()), float(np.sum(width * mass))


def ks_pvalue(d: float, agg: ColumnAggregates) -> float:
    """scipy.stats.ks_2samp's asymptotic two-sided p-value for statistic `d` at these sizes."""
    from scipy.stats import kstwo

    n, m = agg.reference_rows, agg.current_rows
    en = round(n * m / (n + m))
    return float(kstwo.sf(min(max(d, 0.0), 1.0), en))


def constant_value(agg: ColumnAggregates) -> Any | None:
    """The current window's single value when it is constant at a value the varying reference has."""
    if agg.column_type == "cat":
        ref = {k: v for k, v in (agg.ref_counts or {}).items() if v > 0}
        cur = {k: v for k, v in (agg.cur_counts or {}).items() if v > 0}
        if len(cur) != 1 or len(ref) < 2:
            return None
        (value,) = cur
        return value if value in ref else None
    if agg.ref is None or agg.cur is None or agg.cur.rows == 0 or agg.ref.rows == 0:
        return None
    if agg.cur.min != agg.cur.max or agg.ref.min == agg.ref.max:
        return None
    hits = agg.ref_detail.constant_hits
    if hits is None and agg.ref_detail.values is not None:
        hits = agg.ref_detail.values.get(float(agg.cur.min or 0.0), 0)
    return agg.cur.min if hits else None


# --- the calibrated decision (drift.decision: calibrated) ---------------------------------------


def calibrated_from_aggregates(
    agg: ColumnAggregates,
    method: str | None,
    threshold: float | None,
    *,
    alpha: float,
    resamples: int,
    seed: int,
) -> AggregateDrift:
    """`driftline.drift.column_tests.calibrated_column_drift`'s verdict from the engine's aggregates.

    The caller decides columns with at most VALUES_ROWS values on both sides on their values; this
    is the large-sample case, where scipy's KS is asymptotic and the distances use the resampled
    null from the reference (`driftline.drift.calibrated.null_distribution`).
    """
    from driftline.drift.column_tests import calibrated_verdict, categorical_test, column_seed

    if method is not None and agg.column_type not in METHOD_TYPES.get(method, frozenset()):
        allowed = sorted(m for m, types in METHOD_TYPES.items() if agg.column_type in types)
        raise ValueError(
            f"drift method {method!r} does not apply to {agg.column_type} column {agg.name!r}: use {allowed}"
        )
    col_seed = column_seed(seed, agg.name)
    error = [0.0]

    def statistic() -> tuple[str, float, float]:
        if agg.column_type == "cat":
            return categorical_test(agg.ref_counts or {}, agg.cur_counts or {}, method, resamples, col_seed)
        chosen, stat, p, err = _calibrated_numeric(agg, method, resamples, col_seed)
        error[0] = err
        return chosen, stat, p

    drift = calibrated_verdict(
        agg.name,
        agg.column_type,
        agg.reference_rows,
        agg.current_rows,
        method,
        threshold,
        alpha=alpha,
        statistic=statistic,
    )
    err = error[0]
    near = False
    if err > 0 and drift.p_value is not None and drift.alpha is not None:
        near = abs(drift.p_value - drift.alpha) <= err
    return AggregateDrift(drift, statistic_error=err, near_threshold=near)


def _exact_counts(agg: ColumnAggregates) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    import numpy as np

    if agg.ref_detail.values is None or agg.cur_detail.values is None:
        return None
    keys = np.array(sorted(set(agg.ref_detail.values) | set(agg.cur_detail.values)), dtype="float64")
    ref = np.array([agg.ref_detail.values.get(k, 0) for k in keys.tolist()], dtype="int64")
    cur = np.array([agg.cur_detail.values.get(k, 0) for k in keys.tolist()], dtype="int64")
    return keys, ref, cur


def _calibrated_numeric(
    agg: ColumnAggregates, method: str | None, resamples: int, seed: int
) -> tuple[str, float, float, float]:
    """(method, statistic, p-value, bound on the statistic's error) of a numerical column."""
    import numpy as np

    from driftline.drift import calibrated as cal
    from driftline.drift.column_tests import calibrated_method, share_distance_test

    exact = _exact_counts(agg)
    chosen = method or calibrated_method("num", len(exact[0]) if exact is not None else EXACT_VALUES + 1)
    if exact is not None:
        keys, ref, cur = exact
        if chosen == "ks":
            d = float(np.max(np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())))
            p = ks_pvalue(d, agg)
            return chosen, p, p, 0.0
        if chosen in ("chisquare", "z"):
            _, p = cal.chi2_two_sample(ref, cur)
            return chosen, p, p, 0.0
        in_ref = ref > 0
        if chosen == "wasserstein":
            observed = float(cal.normed_wasserstein_weighted(keys, ref.astype(float), cur.astype(float)))
            atoms, counts = cal.atoms_from_counts(keys[in_ref], ref[in_ref])
            null = cal.null_distribution(
                "wasserstein", counts, int(cur.sum()), atoms=atoms, resamples=resamples, seed=seed
            )
            return chosen, observed, cal.null_p_value(null, observed), 0.0
        edges = cal.reference_bins_from_counts(keys[in_ref], ref[in_ref])
        ref_b = cal.binned_counts_from_counts(keys, ref, edges)
        cur_b = cal.binned_counts_from_counts(keys, cur, edges)
        _, stat, p = share_distance_test(chosen, ref_b, cur_b, resamples, seed)
        return chosen, stat, p, 0.0
    if agg.edges is None or agg.ref_detail.cdf is None or agg.cur_detail.cdf is None:
        raise DriftInputError(f"{agg.name}: the engine computed no histogram for {chosen}")
    edges = np.array(agg.edges, dtype="float64")
    ref_cum = np.array(agg.ref_detail.cdf, dtype="float64")
    cur_cum = np.array(agg.cur_detail.cdf, dtype="float64")
    ref_cdf, cur_cdf = ref_cum / agg.reference_rows, cur_cum / agg.current_rows
    if chosen == "ks":
        p, error = ks_from_cdf(agg, ref_cdf, cur_cdf)
        return chosen, p, p, error
    if chosen == "wasserstein":
        w1, bound = wasserstein_from_cdf(edges, ref_cdf, cur_cdf)
        norm = _norm(agg.ref)
        observed = w1 / norm
        if agg.ref_detail.bin_means is None or agg.ref_detail.bin_counts is None:
            raise DriftInputError(f"{agg.name}: the engine computed no bin means for the Wasserstein null")
        atoms, counts = cal.atoms_from_counts(
            np.array(agg.ref_detail.bin_means), np.array(agg.ref_detail.bin_counts)
        )
        null = cal.null_distribution(
            "wasserstein", counts, agg.current_rows, atoms=atoms, resamples=resamples, seed=seed
        )
        return chosen, observed, cal.null_p_value(null, observed), bound / norm
    # share distances: the reference's quantile bins, cut at the nearest grid edge
    k = min(cal.MAX_BINS, math.ceil(math.log2(max(agg.reference_rows, 2)) + 1))
    probs = np.linspace(0, 1, k + 1)[1:-1]
    at = np.unique(np.clip(np.searchsorted(ref_cdf, probs, side="left"), 1, edges.size - 2))
    ref_b = np.diff(np.concatenate([[0.0], ref_cum[at], [ref_cum[-1]]]))
    cur_b = np.diff(np.concatenate([[0.0], cur_cum[at], [cur_cum[-1]]]))
    _, stat, p = share_distance_test(chosen, ref_b, cur_b, resamples, seed)
    # each cut moves by less than a grid bin: the shares move by at most the largest bin mass
    mass = float(max(np.diff(ref_cdf).max(), np.diff(cur_cdf).max())) if edges.size > 1 else 0.0
    return chosen, stat, p, mass
