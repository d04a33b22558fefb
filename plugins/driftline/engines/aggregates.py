"""Drift decisions from mergeable aggregates: pure functions of counts and arrays.

An out-of-core engine (DuckDB, Spark) never holds a column in memory: it computes, per column
and side, a few aggregates that merge across partitions and feeds them to these functions:

- numerical columns: the count, min, max, mean and population variance of the finite values;
  the exact value counts when the two sides have few distinct values together
  (<= `EXACT_VALUES`); otherwise the cumulative counts `count(x <= e)` at `FINE_BINS + 1`
  equal-width edges over the merged range (a histogram on fixed bin edges), and, for a
  Jensen-Shannon test, the counts `count(x < e)` at numpy's Sturges edges over the merged values;
- categorical columns: the count of each value (nulls left out).

Every decision is the one `driftline.drift.stats.column_drift` (the pandas engine) takes on the
same data, column by column (tests/unit/engines/test_aggregates.py checks it):

- exact from the aggregates: the method choice (the distinct-value count is exact up to
  `EXACT_VALUES`, and above it the choice no longer depends on it), Jensen-Shannon on category or
  value shares and on Sturges bins, chi-square and z on counts, normed Wasserstein and KS when
  the values fit in the exact value counts;
- approximate: normed Wasserstein (and KS) of a column with more distinct values than that.
  W1 is integrated from the two CDFs at the fine edges, linear between edges; the error is at
  most `sum_b width_b * (p_ref_b + p_cur_b)` / the reference's std, reported as
  `statistic_error`. A decision can differ from the pandas engine's only when the threshold lies
  within that bound of the statistic; such a column is flagged `near_threshold`.
Methods that need the values themselves (psi, kl_div, hellinger: Evidently's implementations)
are refused above `compute.exact_below_rows` rows with an error naming the column.
"""

from __future__ import annotations

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

#: Above this many distinct values (both sides together) a numerical column is binned.
EXACT_VALUES = 1000
#: Equal-width bins over the merged range for Wasserstein / KS of a high-cardinality column.
FINE_BINS = 8192
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


def fine_edges(ref: NumericSummary, cur: NumericSummary, bins: int = FINE_BINS) -> list[float]:
    """The fixed equal-width edges over the merged range (first pass -> second pass)."""
    import numpy as np

    lo = min(v for v in (ref.min, cur.min) if v is not None)
    hi = max(v for v in (ref.max, cur.max) if v is not None)
    if hi <= lo:
        return [float(lo)]
    return [float(e) for e in np.linspace(lo, hi, bins + 1)]


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
    cdf: list[int] | None = None  # count(x <= e) at the fine edges
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


def needs_exact_values(ref: NumericSummary, cur: NumericSummary) -> bool:
    """Whether the value counts of both sides are small enough to carry exactly.

    HyperLogLog's error is a few percent: a column it puts at or below EXACT_VALUES * 0.9
    distinct values per side is counted exactly; the merged distinct count is then exact.
    """
    return ref.approx_distinct + cur.approx_distinct <= int(EXACT_VALUES * 0.9)


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
        d = np.abs(ref_cdf - cur_cdf)
        mass = np.diff(ref_cdf) + np.diff(cur_cdf)
        stat = float(d.max())
        p = ks_pvalue(stat, agg)
        # D lies in [stat, stat + max bin mass]: the p-value moves by at most the change over that span
        p_low = ks_pvalue(stat + float(mass.max() if mass.size else 0.0), agg)
        return p, chosen, abs(p - p_low)
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
