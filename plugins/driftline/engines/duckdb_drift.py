"""Data drift on the duckdb engine: mergeable aggregates computed by DuckDB in one read of each column.

1. The grid (no scan): each numerical column's range over both snapshots from the parquet
   statistics DuckDB's COPY wrote (min/max per row group). A column whose statistics are missing
   or not finite (NaN, +-inf in the data) gets one extra min/max query over the finite values.
2. One query per column over both snapshots (`UNION ALL`, a side flag), which reads that column
   once: numerical columns grouped by their bin on the shared grid (count, sum, min, max and the
   sum of squares about the range's midpoint per bin); categorical columns grouped by value.
   DuckDB's hash aggregate runs in parallel and spills within compute.memory_limit_mb.
3. Decisions in NumPy on those aggregates (`driftline.engines.aggregates`), with the pandas
   engine's own functions; the dataset verdict through `driftline.drift.data_drift.dataset_verdict`.

Rare columns need one more small query: a binned column with at most 20 non-empty bins (its exact
distinct count and, when small, its value counts), Evidently's Jensen-Shannon on Sturges bins
(counts below each edge), a column constant in the current window at a value of a binned reference
(the reference's count of that value), a column with at most `VALUES_ROWS` values on both sides
(read whole and decided on its values). Windows with at most `compute.exact_below_rows` rows on
both sides are read whole and decided by the pandas engine's code.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from driftline.engines.aggregates import (
    EXACT_VALUES,
    FINE_BINS,
    VALUES_ROWS,
    AggregateDrift,
    ColumnAggregates,
    calibrated_from_aggregates,
    column_drift_from_aggregates,
    constant_value,
    empty_numeric,
    grid,
    numeric_from_bins,
    sturges_edges,
)
from driftline.engines.duckdb import ident, literal, register_snapshot_store, snapshot_path

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from driftline.data.snapshots import SnapshotRef
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.drift.stats import ColumnDrift
    from driftline.engines.duckdb import DuckDBEngine

log = logging.getLogger(__name__)
_INTS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_NUMERIC = (*_INTS, "FLOAT", "DOUBLE", "DECIMAL", "REAL")


def finite(q: str) -> str:
    return f"isfinite(CAST({q} AS DOUBLE))"


def relation(con: duckdb.DuckDBPyConnection, ref: SnapshotRef | list[SnapshotRef]) -> str:
    """The snapshot(s) as one relation (a list: the drift window's days together)."""
    refs = ref if isinstance(ref, list) else [ref]
    for one in refs:
        register_snapshot_store(con, one.uri)
    files = ", ".join(literal(snapshot_path(one.uri)) for one in refs)
    return f"read_parquet([{files}], union_by_name = true)"


def duck_kind(duck_type: str) -> str:
    """The dtype family `driftline.drift.data_drift.check_kinds` compares, of a DuckDB type."""
    base = duck_type.split("(")[0]
    if base == "BOOLEAN":
        return "bool"
    if base in _NUMERIC:
        return "numeric"
    if base.startswith(("TIMESTAMP", "DATE")):
        return "datetime"
    if base == "NULL":
        return "empty"
    return "text"


def check_columns(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, settings: DriftSettings
) -> tuple[int, int, dict[str, str]]:
    """data_drift.check_kinds on the two relations' schemas; returns the row counts and the reference's types."""
    from driftline.drift.data_drift import check_kinds

    counts = []
    types: list[dict[str, str]] = []
    for rel in (ref_rel, cur_rel):
        row = con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0]
        counts.append(int(row[0]) if row else 0)
        types.append(
            {str(r[0]): str(r[1]).upper() for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
        )
    check_kinds(
        counts[0],
        counts[1],
        {c: duck_kind(t) for c, t in types[0].items()},
        {c: duck_kind(t) for c, t in types[1].items()},
        types[0],
        types[1],
        settings,
    )
    return counts[0], counts[1], types[0]


def _paths(rel: str) -> str:
    """The file list of a relation() (read_parquet([...], union_by_name = true)), for parquet_metadata."""
    return rel.removeprefix("read_parquet(").removesuffix(", union_by_name = true)")


def grid_ranges(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, numeric: list[str]
) -> dict[str, tuple[float, float] | None]:
    """Each numerical column's (min, max) over both snapshots from the parquet statistics; None when
    the statistics cannot give it (missing, or not finite), or the column has no value at all."""
    out: dict[str, tuple[float, float] | None] = {c: None for c in numeric}
    if not numeric:
        return out
    rows = con.execute(
        "SELECT path_in_schema, min(TRY_CAST(stats_min_value AS DOUBLE)), max(TRY_CAST(stats_max_value AS DOUBLE)), "
        "bool_and(stats_min_value IS NOT NULL OR (stats_null_count IS NOT NULL AND stats_null_count = num_values)) "
        f"FROM (SELECT * FROM parquet_metadata({_paths(ref_rel)}) UNION ALL "
        f"SELECT * FROM parquet_metadata({_paths(cur_rel)})) GROUP BY 1"
    ).fetchall()
    for name, lo, hi, complete in rows:
        if name in out and complete and lo is not None and hi is not None:
            if math.isfinite(lo) and math.isfinite(hi):
                out[name] = (float(lo), float(hi))
    missing = [c for c in numeric if out[c] is None]
    if missing:
        items = []
        for c in missing:
            q = ident(c)
            items += [
                f"min(CAST({q} AS DOUBLE)) FILTER (WHERE {finite(q)})",
                f"max(CAST({q} AS DOUBLE)) FILTER (WHERE {finite(q)})",
            ]
        cols = ", ".join(ident(c) for c in missing)
        row = con.execute(
            f"SELECT {', '.join(items)} FROM (SELECT {cols} FROM {ref_rel} UNION ALL SELECT {cols} FROM {cur_rel})"
        ).fetchall()[0]
        for i, c in enumerate(missing):
            lo, hi = row[2 * i], row[2 * i + 1]
            out[c] = (float(lo), float(hi)) if lo is not None and hi is not None else None
    return out


def _both(ref_rel: str, cur_rel: str, q: str) -> str:
    return f"(SELECT 0 AS side, {q} AS v FROM {ref_rel} UNION ALL SELECT 1 AS side, {q} AS v FROM {cur_rel})"


def _numeric_column(
    con: duckdb.DuckDBPyConnection,
    ref_rel: str,
    cur_rel: str,
    name: str,
    integer: bool,
    span: tuple[float, float] | None,
) -> ColumnAggregates:
    """One read of a numerical column on both sides: its bins on the shared grid."""
    if span is None:  # no finite value on either side
        return empty_numeric(name)
    lo, width, bins, centre = grid(span, integer)
    q = ident(name)
    rows = con.execute(
        f"SELECT side, CAST(least(greatest(floor((v - ?) / ?), 0), ?) AS INTEGER) AS b, count(*), "
        f"sum(v - ?), sum((v - ?) * (v - ?)), min(v), max(v) "
        f"FROM {_both(ref_rel, cur_rel, f'CAST({q} AS DOUBLE)')} WHERE isfinite(v) GROUP BY ALL",
        [lo, width, bins - 1, centre, centre, centre],
    ).fetchall()
    agg, few_bins = numeric_from_bins(name, rows, lo, width, bins, centre)
    if few_bins:  # few bins, several values in one: count the values themselves
        _exact_values(con, ref_rel, cur_rel, agg)
    return agg


def _exact_values(con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, agg: ColumnAggregates) -> None:
    q = ident(agg.name)
    both = _both(ref_rel, cur_rel, f"CAST({q} AS DOUBLE)")
    distinct = con.execute(f"SELECT count(DISTINCT v) FROM {both} WHERE isfinite(v)").fetchall()[0]
    if not distinct or int(distinct[0]) > EXACT_VALUES:
        return
    agg.ref_detail.values, agg.cur_detail.values = {}, {}
    for side, v, n in con.execute(
        f"SELECT side, v, count(*) FROM {both} WHERE isfinite(v) GROUP BY ALL"
    ).fetchall():
        (agg.ref_detail if side == 0 else agg.cur_detail).values[float(v)] = int(n)  # type: ignore[index]


def _categorical_column(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, name: str
) -> ColumnAggregates:
    q = ident(name)
    ref: dict[Any, int] = {}
    cur: dict[Any, int] = {}
    for side, v, n in con.execute(
        f"SELECT side, v, count(*) FROM {_both(ref_rel, cur_rel, q)} WHERE v IS NOT NULL GROUP BY ALL"
    ).fetchall():
        (ref if side == 0 else cur)[v] = int(n)
    agg = ColumnAggregates(name, "cat", sum(ref.values()), sum(cur.values()))
    agg.ref_counts, agg.cur_counts = ref, cur
    return agg


def _extras(
    con: duckdb.DuckDBPyConnection, ref_rel: str, agg: ColumnAggregates, settings: DriftSettings, cur_rel: str
) -> None:
    """The rare aggregates: Sturges counts for Evidently's numerical Jensen-Shannon, and the reference's
    count of a constant current value when the reference is binned."""
    if agg.column_type != "num" or agg.ref is None or agg.cur is None or not agg.ref.rows or not agg.cur.rows:
        return
    q = ident(agg.name)
    method, _ = settings.method_for(agg.name)
    if settings.decision == "evidently" and method == "jensenshannon":
        agg.sturges = sturges_edges(agg.ref, agg.cur)
        for rel, detail in ((ref_rel, agg.ref_detail), (cur_rel, agg.cur_detail)):
            items = [
                f"count_if(CAST({q} AS DOUBLE) < ?) FILTER (WHERE {finite(q)})" for _ in agg.sturges[:-1]
            ]
            row = con.execute(f"SELECT {', '.join(items)} FROM {rel}", agg.sturges[:-1]).fetchall()[0]
            detail.below = [int(v) for v in row]
    if agg.cur.min == agg.cur.max and agg.ref_detail.values is None:
        row = con.execute(
            f"SELECT count_if(CAST({q} AS DOUBLE) = ?) FROM {ref_rel}", [agg.cur.min]
        ).fetchall()[0]
        agg.ref_detail.constant_hits = int(row[0])


def compute_aggregates(
    con: duckdb.DuckDBPyConnection,
    ref_rel: str,
    cur_rel: str,
    settings: DriftSettings,
    types: dict[str, str],
) -> dict[str, ColumnAggregates]:
    """Every column's aggregates, each column read once (plus the rare extras)."""
    numeric = [c for c, k in settings.column_types.items() if k == "num"]
    spans = grid_ranges(con, ref_rel, cur_rel, numeric)
    aggs: dict[str, ColumnAggregates] = {}
    for name, kind in settings.column_types.items():
        if kind == "cat":
            aggs[name] = _categorical_column(con, ref_rel, cur_rel, name)
            continue
        integer = types.get(name, "").split("(")[0] in _INTS
        agg = _numeric_column(con, ref_rel, cur_rel, name, integer, spans[name])
        _extras(con, ref_rel, agg, settings, cur_rel)
        aggs[name] = agg
    return aggs


def data_drift(
    engine: DuckDBEngine,
    reference: SnapshotRef,
    current: SnapshotRef | list[SnapshotRef],
    settings: DriftSettings,
) -> DataDriftResult:
    """DataDriftResult of `current` against `reference`, both snapshots, on DuckDB (either decision)."""
    con = engine.connect()
    try:
        ref_rel, cur_rel = relation(con, reference), relation(con, current)
        n_ref, n_cur, types = check_columns(con, ref_rel, cur_rel, settings)
        limit = engine.compute.exact_below_rows
        if n_ref <= limit and n_cur <= limit:
            return _small(con, ref_rel, cur_rel, settings)
        aggs = compute_aggregates(con, ref_rel, cur_rel, settings, types)

        def values_of(name: str) -> tuple[pd.Series, pd.Series]:
            q = ident(name)
            return (
                con.execute(f"SELECT {q} FROM {ref_rel}").df()[name],
                con.execute(f"SELECT {q} FROM {cur_rel}").df()[name],
            )

        return decide(aggs, settings, n_ref, n_cur, values_of)
    finally:
        con.close()


def decide(
    aggs: dict[str, ColumnAggregates],
    settings: DriftSettings,
    n_ref: int,
    n_cur: int,
    values_of: Any = None,
    label: str = "duckdb",
) -> DataDriftResult:
    """compute_data_drift's verdict from aggregates: per column the pandas engine's decision, then the
    constant-in-window policy and the dataset verdict (`driftline.drift.data_drift.dataset_verdict`).

    `values_of(column)` -> (reference, current) Series reads a small column whole (at most
    VALUES_ROWS values on both sides), decided by the pandas engine's per-column function.
    """
    from driftline.drift.calibrated import resamples_for
    from driftline.drift.column_tests import calibrated_column_drift
    from driftline.drift.data_drift import ENGINES, constant_in_window, constant_verdict, dataset_verdict
    from driftline.drift.stats import column_drift

    resamples = resamples_for(len(aggs), settings.alpha, settings.resamples)
    results: list[ColumnDrift] = []
    near: list[str] = []
    for name, agg in aggs.items():
        method, threshold = settings.method_for(name)
        small = (
            values_of is not None
            and 0 < agg.reference_rows <= VALUES_ROWS
            and 0 < agg.current_rows <= VALUES_ROWS
        )
        constant: Any = None
        if small:
            ref_values, cur_values = values_of(name)
            if settings.decision == "calibrated":
                result = calibrated_column_drift(
                    name, ref_values, cur_values, agg.column_type, method=method, threshold=threshold,
                    alpha=settings.alpha, resamples=resamples, seed=settings.seed,
                )  # fmt: skip
            else:
                result = column_drift(name, ref_values, cur_values, agg.column_type, method, threshold)
            if result.status == "ok" and settings.constant_policy(name) == "report":
                constant = constant_in_window(ref_values, cur_values, agg.column_type)
        else:
            decided: AggregateDrift = (
                calibrated_from_aggregates(
                    agg, method, threshold, alpha=settings.alpha, resamples=resamples, seed=settings.seed
                )
                if settings.decision == "calibrated"
                else column_drift_from_aggregates(agg, method, threshold)
            )
            result = decided.drift
            if decided.statistic_error:
                if decided.near_threshold:
                    near.append(name)
                result = replace(
                    result,
                    reason=f"statistic from {FINE_BINS} equal-width bins: within {decided.statistic_error:.3g} "
                    "of the full-data value"
                    + ("; the threshold lies within that bound" if decided.near_threshold else ""),
                )
            if result.status == "ok" and settings.constant_policy(name) == "report":
                constant = constant_value(agg)
        if constant is not None:
            result = constant_verdict(result, constant)
        results.append(result)
    if near:
        log.warning("drift statistic within its approximation error of the threshold: %s", sorted(near))
    how = ENGINES[settings.decision if settings.decision == "evidently" else settings.correction]
    return dataset_verdict(
        results, settings, n_ref, n_cur, f"{label} aggregates (driftline.engines.aggregates); {how}"
    )


def _small(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, settings: DriftSettings
) -> DataDriftResult:
    """Both sides fit: read them whole and decide with the pandas engine's code."""
    from driftline.drift.data_drift import compute_data_drift

    cols = ", ".join(ident(c) for c in settings.column_types)
    reference = con.execute(f"SELECT {cols} FROM {ref_rel}").df()
    current = con.execute(f"SELECT {cols} FROM {cur_rel}").df()
    result = compute_data_drift(reference, current, settings)
    return replace(result, engine=f"duckdb (read whole: at most exact_below_rows rows); {result.engine}")
