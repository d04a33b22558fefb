"""Data drift on the spark engine: the duckdb engine's mergeable aggregates, computed with Spark SQL.

The same aggregates as `driftline.engines.duckdb_drift`, on the same grid, fed to the same
decision code (`driftline.engines.aggregates.numeric_from_bins`, `duckdb_drift.decide`), so the
decisions are the duckdb engine's (tests/unit/engines/test_spark_engine.py checks pandas, duckdb
and spark column by column):

1. the grid: each numerical column's min and max of its finite values over both sides (one Spark
   aggregation over all numerical columns);
2. per column one aggregation over both sides (a side flag, `unionByName`): numerical columns
   grouped by their bin (count, sum and sum of squares about the range's midpoint, min, max),
   categorical columns grouped by value. Spark runs them on the executors (partial aggregates
   merged across partitions);
3. the rare extras (exact value counts of a column with at most 20 bins, Evidently's Sturges
   counts, the reference's count of a constant current value), then the decisions on the driver.

Windows with at most `compute.exact_below_rows` rows on both sides are read whole (Arrow) and
decided by the pandas engine's code, as on duckdb.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from driftline.engines.aggregates import (
    EXACT_VALUES,
    ColumnAggregates,
    empty_numeric,
    grid,
    numeric_from_bins,
    sturges_edges,
)
from driftline.engines.spark import INT_TYPES, NUM_TYPES, col, read_snapshots, type_name

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

    from driftline.data.snapshots import SnapshotRef
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.engines.spark import SparkEngine


def spark_kind(spark_type: str) -> str:
    """The dtype family `driftline.drift.data_drift.check_kinds` compares, of a Spark type."""
    base = spark_type.split("(")[0]
    if base == "boolean":
        return "bool"
    if base in (*NUM_TYPES, "decimal"):
        return "numeric"
    if base in ("timestamp", "timestamp_ntz", "date"):
        return "datetime"
    if base == "void":
        return "empty"
    return "text"


def finite(v: Column) -> Column:
    from pyspark.sql import functions as F

    return v.isNotNull() & ~F.isnan(v) & (F.abs(v) != F.lit(float("inf")))


def both(ref: DataFrame, cur: DataFrame, name: str, cast: str | None = None) -> DataFrame:
    """(side, v): the column on both sides, the reference's side 0."""
    from pyspark.sql import functions as F

    value = col(name).cast(cast) if cast else col(name)
    return ref.select(F.lit(0).alias("side"), value.alias("v")).unionByName(
        cur.select(F.lit(1).alias("side"), value.alias("v"))
    )


def grid_ranges(ref: DataFrame, cur: DataFrame, numeric: list[str]) -> dict[str, tuple[float, float] | None]:
    """Each numerical column's (min, max) of its finite values over both sides, None when it has none."""
    from pyspark.sql import functions as F

    out: dict[str, tuple[float, float] | None] = dict.fromkeys(numeric)
    if not numeric:
        return out
    cols = [col(c).cast("double").alias(f"c{i}") for i, c in enumerate(numeric)]
    union = ref.select(*cols).unionByName(cur.select(*cols))
    items = []
    for i in range(len(numeric)):
        v = F.col(f"c{i}")
        items += [F.min(F.when(finite(v), v)), F.max(F.when(finite(v), v))]
    row = union.agg(*items).collect()[0]
    for i, c in enumerate(numeric):
        lo, hi = row[2 * i], row[2 * i + 1]
        out[c] = (float(lo), float(hi)) if lo is not None and hi is not None else None
    return out


def numeric_column(
    ref: DataFrame, cur: DataFrame, name: str, integer: bool, span: tuple[float, float] | None
) -> ColumnAggregates:
    """One aggregation of a numerical column on both sides: its bins on the shared grid."""
    from pyspark.sql import functions as F

    if span is None:
        return empty_numeric(name)
    lo, width, bins, centre = grid(span, integer)
    data = both(ref, cur, name, "double").where(finite(F.col("v")))
    v = F.col("v")
    b = F.least(F.greatest(F.floor((v - F.lit(lo)) / F.lit(width)), F.lit(0)), F.lit(bins - 1)).cast("int")
    rows = (
        data.groupBy("side", b.alias("b"))
        .agg(
            F.count(F.lit(1)),
            F.sum(v - F.lit(centre)),
            F.sum((v - F.lit(centre)) * (v - F.lit(centre))),
            F.min(v),
            F.max(v),
        )
        .collect()
    )
    agg, few_bins = numeric_from_bins(name, [tuple(r) for r in rows], lo, width, bins, centre)
    if few_bins:
        distinct = data.select("v").distinct().limit(EXACT_VALUES + 1).count()
        if distinct <= EXACT_VALUES:
            agg.ref_detail.values, agg.cur_detail.values = {}, {}
            for side, value, n in data.groupBy("side", "v").count().collect():
                (agg.ref_detail if side == 0 else agg.cur_detail).values[float(value)] = int(n)  # type: ignore[index]
    return agg


def categorical_column(ref: DataFrame, cur: DataFrame, name: str) -> ColumnAggregates:
    from pyspark.sql import functions as F

    counts: tuple[dict[Any, int], dict[Any, int]] = ({}, {})
    for side, value, n in (
        both(ref, cur, name).where(F.col("v").isNotNull()).groupBy("side", "v").count().collect()
    ):
        counts[side][value] = int(n)
    agg = ColumnAggregates(name, "cat", sum(counts[0].values()), sum(counts[1].values()))
    agg.ref_counts, agg.cur_counts = counts
    return agg


def extras(ref: DataFrame, cur: DataFrame, agg: ColumnAggregates, settings: DriftSettings) -> None:
    """Sturges counts for Evidently's numerical Jensen-Shannon, and the reference's count of a constant
    current value when the reference is binned (as duckdb_drift's)."""
    from pyspark.sql import functions as F

    if agg.column_type != "num" or agg.ref is None or agg.cur is None or not agg.ref.rows or not agg.cur.rows:
        return
    v = col(agg.name).cast("double")
    method, _ = settings.method_for(agg.name)
    if settings.decision == "evidently" and method == "jensenshannon":
        agg.sturges = sturges_edges(agg.ref, agg.cur)
        for frame, detail in ((ref, agg.ref_detail), (cur, agg.cur_detail)):
            items = [F.count(F.when(finite(v) & (v < F.lit(e)), 1)) for e in agg.sturges[:-1]]
            detail.below = [int(x) for x in frame.agg(*items).collect()[0]]
    if agg.cur.min == agg.cur.max and agg.ref_detail.values is None:
        hits = ref.agg(F.count(F.when(v == F.lit(agg.cur.min), 1))).collect()[0][0]
        agg.ref_detail.constant_hits = int(hits)


def compute_aggregates(
    ref: DataFrame, cur: DataFrame, settings: DriftSettings, types: dict[str, str]
) -> dict[str, ColumnAggregates]:
    numeric = [c for c, k in settings.column_types.items() if k == "num"]
    spans = grid_ranges(ref, cur, numeric)
    aggs: dict[str, ColumnAggregates] = {}
    for name, kind in settings.column_types.items():
        if kind == "cat":
            aggs[name] = categorical_column(ref, cur, name)
            continue
        integer = types.get(name, "").split("(")[0] in INT_TYPES
        agg = numeric_column(ref, cur, name, integer, spans[name])
        extras(ref, cur, agg, settings)
        aggs[name] = agg
    return aggs


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A (small) DataFrame on the driver through Arrow, with pyarrow's conversion (as pd.read_parquet)."""
    return frame.toArrow().to_pandas()


def data_drift(
    engine: SparkEngine,
    reference: SnapshotRef,
    current: SnapshotRef | list[SnapshotRef],
    settings: DriftSettings,
) -> DataDriftResult:
    """DataDriftResult of `current` against `reference`, both snapshots, on Spark (either decision)."""
    from driftline.drift.data_drift import check_kinds, compute_data_drift
    from driftline.engines.duckdb_drift import decide

    spark = engine.session()
    currents = current if isinstance(current, list) else [current]
    ref = read_snapshots(spark, [reference.uri])
    cur = read_snapshots(spark, [c.uri for c in currents])
    ref_types = {f.name: type_name(f.dataType) for f in ref.schema.fields}
    cur_types = {f.name: type_name(f.dataType) for f in cur.schema.fields}
    n_ref, n_cur = ref.count(), cur.count()
    check_kinds(
        n_ref,
        n_cur,
        {c: spark_kind(t) for c, t in ref_types.items()},
        {c: spark_kind(t) for c, t in cur_types.items()},
        ref_types,
        cur_types,
        settings,
    )
    limit = engine.compute.exact_below_rows
    if n_ref <= limit and n_cur <= limit:
        cols = [col(c) for c in settings.column_types]
        result = compute_data_drift(to_pandas(ref.select(*cols)), to_pandas(cur.select(*cols)), settings)
        return replace(result, engine=f"spark (read whole: at most exact_below_rows rows); {result.engine}")
    aggs = compute_aggregates(ref, cur, settings, ref_types)

    def values_of(name: str) -> tuple[pd.Series, pd.Series]:
        return to_pandas(ref.select(col(name)))[name], to_pandas(cur.select(col(name)))[name]

    return decide(aggs, settings, n_ref, n_cur, values_of, label="spark")
