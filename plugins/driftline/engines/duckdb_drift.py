"""Data drift on the duckdb engine: mergeable aggregates computed by DuckDB, decided in NumPy.

Two scans per side, each one query over every column (see driftline.engines.aggregates):
1. per numerical column the finite values' count, min, max, mean, population variance and a
   HyperLogLog distinct count; per categorical column its non-null count;
2. per numerical column either its exact value counts (few distinct values), or its counts in
   `FINE_BINS` equal-width bins over the merged range (`histogram` of the bin index), plus the
   counts below the Sturges edges for a Jensen-Shannon column and the reference's count of the
   current window's constant value; per categorical column its value counts.
Columns with at most `compute.exact_below_rows` rows on both sides are read whole (a small
window) and decided by the pandas engine's own code.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from driftline.engines.aggregates import (
    FINE_BINS,
    ColumnAggregates,
    NumericSummary,
    column_drift_from_aggregates,
    constant_value,
    fine_edges,
    needs_exact_values,
    sturges_edges,
)
from driftline.engines.duckdb import ident, literal, register_snapshot_store, snapshot_path
from driftline.exceptions import DriftInputError

if TYPE_CHECKING:
    import duckdb

    from driftline.data.snapshots import SnapshotRef
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.drift.stats import ColumnDrift
    from driftline.engines.duckdb import DuckDBEngine

log = logging.getLogger(__name__)
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")  # fmt: skip


def finite(q: str) -> str:
    return f"isfinite(CAST({q} AS DOUBLE))"


def relation(con: duckdb.DuckDBPyConnection, ref: SnapshotRef) -> str:
    register_snapshot_store(con, ref.uri)
    return f"read_parquet({literal(snapshot_path(ref.uri))})"


def check_columns(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, settings: DriftSettings
) -> tuple[int, int]:
    """data_drift.check_inputs on the two relations' schemas; returns their row counts."""
    counts = []
    for rel in (ref_rel, cur_rel):
        row = con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0]
        counts.append(int(row[0]) if row else 0)
    if counts[1] == 0:
        raise DriftInputError(
            "the current window has 0 rows: drift cannot be evaluated (this is not 'no drift')"
        )
    if counts[0] == 0:
        raise DriftInputError("the reference data (champion's training snapshot) has 0 rows")
    if not settings.column_types:
        raise DriftInputError("no columns to compare: the model has no features")
    types = []
    for rel in (ref_rel, cur_rel):
        types.append(
            {str(r[0]): str(r[1]).upper() for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
        )
    wanted = list(settings.column_types)
    missing_ref = [c for c in wanted if c not in types[0]]
    missing_cur = [c for c in wanted if c not in types[1]]
    if missing_ref or missing_cur:
        parts = []
        if missing_ref:
            parts.append(f"missing in the reference: {missing_ref}")
        if missing_cur:
            parts.append(f"missing in the current window: {missing_cur}")
        raise DriftInputError("reference and current data have different columns; " + "; ".join(parts))
    problems = []
    for col in wanted:
        kinds = [t[col].split("(")[0] for t in types]
        if settings.column_types[col] == "num":
            for side, kind in zip(("reference", "current"), kinds, strict=True):
                if kind not in _NUMERIC:
                    problems.append(f"{col}: numerical feature but the {side} type is {kind}")
        elif kinds[0] != kinds[1] and "NULL" not in kinds:
            problems.append(f"{col}: reference type {kinds[0]} vs current type {kinds[1]}")
    if problems:
        raise DriftInputError("reference and current data have incompatible dtypes: " + "; ".join(problems))
    return counts[0], counts[1]


def _first_pass(con: duckdb.DuckDBPyConnection, rel: str, settings: DriftSettings) -> dict[str, Any]:
    items: list[str] = []
    for name, kind in settings.column_types.items():
        q = ident(name)
        if kind == "num":
            f = f"FILTER (WHERE {finite(q)})"
            items += [
                f"count({q}) {f}",
                f"min(CAST({q} AS DOUBLE)) {f}",
                f"max(CAST({q} AS DOUBLE)) {f}",
                f"avg(CAST({q} AS DOUBLE)) {f}",
                f"var_pop(CAST({q} AS DOUBLE)) {f}",
                f"approx_count_distinct({q}) {f}",
            ]
        else:
            items.append(f"count({q})")
    row = con.execute(f"SELECT {', '.join(items)} FROM {rel}").fetchall()[0]
    assert row is not None
    out: dict[str, Any] = {}
    at = 0
    for name, kind in settings.column_types.items():
        if kind == "num":
            n, lo, hi, mean, var, distinct = row[at : at + 6]
            out[name] = NumericSummary(int(n), lo, hi, mean, var, int(distinct or 0))
            at += 6
        else:
            out[name] = int(row[at])
            at += 1
    return out


def _second_pass(
    con: duckdb.DuckDBPyConnection,
    rel: str,
    aggs: dict[str, ColumnAggregates],
    side: str,
    exact: dict[str, bool],
) -> None:
    items: list[str] = []
    params: list[Any] = []
    readers: list[tuple[str, str]] = []  # (column, what)
    for name, agg in aggs.items():
        q = ident(name)
        if agg.column_type == "cat":
            items.append(f"histogram({q})")
            readers.append((name, "counts"))
            continue
        if agg.reference_rows == 0 or agg.current_rows == 0:
            continue
        f = f"FILTER (WHERE {finite(q)})"
        if exact[name]:
            items.append(f"histogram(CAST({q} AS DOUBLE)) {f}")
            readers.append((name, "values"))
        else:
            assert agg.edges is not None
            lo, hi = agg.edges[0], agg.edges[-1]
            scale = FINE_BINS / (hi - lo) if hi > lo else 0.0
            items.append(
                f"histogram(CAST(least(greatest(floor((CAST({q} AS DOUBLE) - ?) * ?), 0), {FINE_BINS - 1}) AS SMALLINT)) {f}"
            )
            params += [lo, scale]
            readers.append((name, "bins"))
        if agg.sturges is not None:
            for edge in agg.sturges[:-1]:
                items.append(f"count_if(CAST({q} AS DOUBLE) < ?) {f}")
                params.append(edge)
            readers.append((name, "below"))
        if side == "ref" and agg.cur is not None and agg.cur.rows and agg.cur.min == agg.cur.max:
            items.append(f"count_if(CAST({q} AS DOUBLE) = ?) {f}")
            params.append(agg.cur.min)
            readers.append((name, "constant"))
    if not items:
        return
    row = con.execute(f"SELECT {', '.join(items)} FROM {rel}", params).fetchall()[0]
    assert row is not None
    at = 0
    for name, what in readers:
        agg = aggs[name]
        detail = agg.ref_detail if side == "ref" else agg.cur_detail
        if what == "counts":
            counts = dict(row[at] or {})
            if side == "ref":
                agg.ref_counts = counts
            else:
                agg.cur_counts = counts
            at += 1
        elif what == "values":
            detail.values = {float(k): int(v) for k, v in (row[at] or {}).items()}
            at += 1
        elif what == "bins":
            import numpy as np

            hist = row[at] or {}
            counts_arr = np.zeros(FINE_BINS, dtype="int64")
            for k, v in hist.items():
                counts_arr[int(k)] = int(v)
            # left-closed bins: count(x < e_i) for the inner edges, then everything at the top edge
            detail.cdf = [0, *np.cumsum(counts_arr).tolist()]
            at += 1
        elif what == "below":
            assert agg.sturges is not None
            k = len(agg.sturges) - 1
            detail.below = [int(v) for v in row[at : at + k]]
            at += k
        elif what == "constant":
            detail.constant_hits = int(row[at])
            at += 1


def data_drift(
    engine: DuckDBEngine, reference: SnapshotRef, current: SnapshotRef, settings: DriftSettings
) -> DataDriftResult:
    """DataDriftResult of `current` against `reference`, both snapshots, on DuckDB.

    The aggregates reproduce the Evidently-equivalent decisions (`drift.decision: evidently`); the
    calibrated decisions (drift.calibrated) are not computed from aggregates yet, and say so.
    """
    from driftline.exceptions import ConfigError

    if settings.decision != "evidently":
        raise ConfigError(
            "drift.decision",
            [
                f"compute.engine 'duckdb' computes drift only with drift.decision: evidently, not "
                f"{settings.decision!r} (the calibrated tests from aggregates are not built yet)"
            ],
        )
    con = engine.connect()
    try:
        ref_rel, cur_rel = relation(con, reference), relation(con, current)
        n_ref, n_cur = check_columns(con, ref_rel, cur_rel, settings)
        limit = engine.compute.exact_below_rows
        if n_ref <= limit and n_cur <= limit:
            return _small(con, ref_rel, cur_rel, settings)
        aggs = compute_aggregates(con, ref_rel, cur_rel, settings)
    finally:
        con.close()
    return decide(aggs, settings, n_ref, n_cur)


def compute_aggregates(
    con: duckdb.DuckDBPyConnection, ref_rel: str, cur_rel: str, settings: DriftSettings
) -> dict[str, ColumnAggregates]:
    """Both passes over both relations: every column's aggregates."""
    first_ref = _first_pass(con, ref_rel, settings)
    first_cur = _first_pass(con, cur_rel, settings)
    aggs: dict[str, ColumnAggregates] = {}
    exact: dict[str, bool] = {}
    for name, kind in settings.column_types.items():
        if kind == "cat":
            aggs[name] = ColumnAggregates(name, "cat", first_ref[name], first_cur[name])
            continue
        r, c = first_ref[name], first_cur[name]
        agg = ColumnAggregates(name, "num", r.rows, c.rows, ref=r, cur=c)
        if r.rows and c.rows:
            exact[name] = needs_exact_values(r, c)
            if not exact[name]:
                agg.edges = fine_edges(r, c)
            method, _ = settings.method_for(name)
            if method == "jensenshannon":
                agg.sturges = sturges_edges(r, c)
        aggs[name] = agg
    _second_pass(con, ref_rel, aggs, "ref", exact)
    _second_pass(con, cur_rel, aggs, "cur", exact)
    return aggs


def decide(
    aggs: dict[str, ColumnAggregates], settings: DriftSettings, n_ref: int, n_cur: int
) -> DataDriftResult:
    """compute_data_drift's verdict (constant-in-window policy, drift share) from aggregates."""
    from driftline.drift.data_drift import DataDriftResult

    results: list[ColumnDrift] = []
    notes: dict[str, dict[str, Any]] = {}
    for name, agg in aggs.items():
        method, threshold = settings.method_for(name)
        decided = column_drift_from_aggregates(agg, method, threshold)
        result = decided.drift
        if decided.statistic_error:
            notes[name] = {
                "statistic_error": decided.statistic_error,
                "near_threshold": decided.near_threshold,
            }
            result = replace(
                result,
                reason=f"statistic from {FINE_BINS} equal-width bins: within {decided.statistic_error:.3g} of "
                "the full-data value"
                + ("; the threshold lies within that bound" if decided.near_threshold else ""),
            )
        if result.status == "ok" and settings.constant_policy(name) == "report":
            value = constant_value(agg)
            if value is not None:
                verdict = "would drift" if result.drifted else "would not drift"
                result = replace(
                    result,
                    drifted=None,
                    status="constant_in_window",
                    reason=(
                        f"constant in window: every current value is {value!r} (the reference has it among "
                        f"others); left out of the drift share ({result.method} {verdict})"
                    ),
                )
        results.append(result)
    comparable = [r for r in results if r.drifted is not None]
    not_comparable = sorted(r.column for r in results if r.status == "not_comparable")
    constant = sorted(r.column for r in results if r.status == "constant_in_window")
    if not comparable and not constant:
        raise DriftInputError(
            f"no column can be compared: the reference has no non-null values in {not_comparable}"
        )
    drifted = sum(1 for r in comparable if r.drifted)
    share = drifted / len(comparable) if comparable else 0.0
    near = sorted(n for n, v in notes.items() if v["near_threshold"])
    if near:
        log.warning("drift statistic within its approximation error of the threshold: %s", near)
    return DataDriftResult(
        dataset_drift=bool(share >= settings.drift_share),
        drift_share=share,
        drift_share_threshold=settings.drift_share,
        number_of_columns=len(comparable),
        number_of_drifted_columns=drifted,
        columns={r.column: r for r in results},
        reference_rows=n_ref,
        current_rows=n_cur,
        not_comparable=not_comparable,
        engine="duckdb aggregates (driftline.engines.aggregates; Evidently 0.7 methods, full data)",
        excluded=sorted(settings.excluded),
        constant_in_window=constant,
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
