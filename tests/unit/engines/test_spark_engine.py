"""The spark engine (local[2]) reaches the pandas and duckdb engines' results on the same data:
load, validation (GX's Spark execution engine) and drift decisions, column by column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from driftline.config.models import ComputeSection, SqlSource
from driftline.data.snapshots import SnapshotRef, read_snapshot, snapshot_uri, write_snapshot
from driftline.data.sources import NothingArrivedError, SourceSchemaError
from driftline.drift.data_drift import DriftSettings, compute_data_drift
from driftline.engines import EngineUnavailableError, engine_for
from driftline.engines.duckdb import DuckDBEngine
from driftline.engines.spark import SparkEngine
from driftline.validation.gate import validate_frame

from tests.unit.engines.test_duckdb_engine import engine_load as duckdb_load
from tests.unit.engines.test_duckdb_engine import pandas_load, same_rows, window

HOSTILE = "'; DROP TABLE t; -- \" `x` ${jndi:ldap://x} é\u202e"


@pytest.fixture
def engine(spark_session) -> SparkEngine:
    return SparkEngine(ComputeSection(engine="spark"), "churn")


@pytest.fixture
def aggregate_engines(spark_session) -> tuple[SparkEngine, DuckDBEngine]:
    return (
        SparkEngine(ComputeSection(engine="spark", exact_below_rows=0), "m"),
        DuckDBEngine(ComputeSection(engine="duckdb", exact_below_rows=0)),
    )


@pytest.fixture
def churn_data(driftline_home: Path, churn_generator) -> Path:
    root = driftline_home / "data"
    churn_generator.generate(root, dt.date(2026, 1, 1), 6, rows=300)
    return root


def spark_load(engine: SparkEngine, config, win, name="w", **kw):
    uri = snapshot_uri(None, config.model.name, "run-spark", name)
    return engine.load_window(config.data.source, win, config, uri, {"window": name}, **kw)


# --- load ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["current", "training"])
def test_load_reads_the_same_rows_as_pandas_and_duckdb(engine, churn_data, example_config, kind: str) -> None:
    win = window(kind, 5)
    expected = pandas_load(example_config, win)
    ref, facts = spark_load(engine, example_config, win)
    got = read_snapshot(ref.uri, require="raw", sha256=ref.sha256)
    assert ref.rows == len(expected.df) and facts["partitions"] == expected.partitions
    same_rows(expected.df, got, example_config)
    assert str(got[example_config.data.timestamp].dt.tz) == "UTC"
    duck, _ = duckdb_load(example_config, win, name="duck")
    assert duck.rows == ref.rows
    folder = Path(ref.uri).parent
    assert not [p for p in folder.iterdir() if "_spark_parts_" in p.name]  # the staged part files are gone


def test_an_empty_partition_and_a_missing_training_day(engine, churn_data, example_config) -> None:
    """An empty file is zero rows; a missing training day is recorded, as on the other engines."""
    day3 = churn_data / "churn" / "dt=2026-01-03" / "part.parquet"
    frame = pd.read_parquet(day3)
    frame.iloc[0:0].to_parquet(day3, index=False)
    day2 = churn_data / "churn" / "dt=2026-01-02" / "part.parquet"
    day2.unlink()
    win = window("training", 5, 4)
    expected = pandas_load(example_config, win)
    ref, facts = spark_load(engine, example_config, win, name="gaps")
    assert ref.rows == len(expected.df) == 600  # days 1 and 4
    assert facts["missing_partitions"] == expected.missing and facts["missing_partitions"]


def test_a_missing_current_day_is_late_data(engine, churn_data, example_config) -> None:
    with pytest.raises(NothingArrivedError, match="2026-01-09"):
        spark_load(engine, example_config, window("current", 9))


def test_training_window_excludes_quarantined_ranges(engine, churn_data, example_config) -> None:
    ref, facts = spark_load(
        engine,
        example_config,
        window("training", 5, 3),
        name="q",
        exclude_ranges=[("2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00")],
    )
    assert facts["quarantined_excluded"] == [
        {"start": "2026-01-03T00:00:00+00:00", "end": "2026-01-04T00:00:00+00:00", "rows": 300}
    ]
    assert ref.rows == 600


def test_type_mismatch_and_a_lossy_int_name_the_column(engine, churn_data, example_config) -> None:
    cfg = example_config.model_copy(deep=True)
    cfg.data.features[4].type = "int"  # plan is text
    with pytest.raises(SourceSchemaError, match="plan: expected int, found string"):
        spark_load(engine, cfg, window("current", 2))
    day = churn_data / "churn" / "dt=2026-01-02" / "part.parquet"
    frame = pd.read_parquet(day)
    int_feature = next(f.name for f in example_config.data.features if f.type == "int")
    frame[int_feature] = frame[int_feature].astype("float64") + 0.5
    frame.to_parquet(day, index=False)
    with pytest.raises(SourceSchemaError, match=f"column {int_feature}: a value is not a lossless int"):
        spark_load(engine, example_config, window("current", 2), name="lossy")


def test_sql_and_unconfigured_s3_refuse_naming_the_field(engine, example_config) -> None:
    cfg = example_config.model_copy(deep=True)
    cfg.data.source = SqlSource(kind="sql", conn_id="db", table="events")
    with pytest.raises(
        EngineUnavailableError, match=r"data.source.kind 'sql' is not read by compute.engine 'spark'"
    ):
        spark_load(engine, cfg, window("current", 2))


def test_engine_for_gives_the_spark_engine(example_config) -> None:
    cfg = example_config.model_copy(deep=True)
    cfg.compute = ComputeSection(engine="spark")
    assert engine_for(cfg).name == "spark"  # type: ignore[union-attr]


# --- validation: GX's SparkDFExecutionEngine ---------------------------------------------------


def test_validation_on_gx_spark_engine_matches_pandas_and_duckdb(
    engine, driftline_home, churn_generator, example_config
) -> None:
    """Same success, failing expectations and unexpected counts on a clean and a corrupt day, with
    nulls and a hostile string value in the data."""
    duck = DuckDBEngine(ComputeSection(engine="duckdb", memory_limit_mb=256))
    clean = churn_generator.day_frame(dt.date(2026, 1, 5), 400, False, 42)
    corrupt = churn_generator.corrupt(churn_generator.day_frame(dt.date(2026, 1, 17), 400, False, 42), 42)
    corrupt["plan"] = corrupt["plan"].astype(object)
    corrupt.loc[corrupt.index[:3], "plan"] = HOSTILE
    for name, frame in (("clean", clean), ("corrupt", corrupt)):
        expected = validate_frame(frame, example_config)
        ref = write_snapshot(frame, snapshot_uri(None, "churn", "v", name))
        for got in (engine.validate(ref, example_config), duck.validate(ref, example_config)):
            assert got.success == expected.success, name
            assert [(f.expectation, f.column, f.unexpected_count) for f in got.failures] == [
                (f.expectation, f.column, f.unexpected_count) for f in expected.failures
            ], name
            assert [(f.expectation, f.column) for f in got.warnings] == [
                (f.expectation, f.column) for f in expected.warnings
            ], name
            assert got.statistics == expected.statistics, name
    assert "SparkDFExecutionEngine" in engine.validate(ref, example_config).meta["engine"]
    assert not expected.success  # the corrupt day fails on every engine


# --- drift: the same aggregates and decisions ---------------------------------------------------

TYPES = {
    "normal": "num",
    "skewed": "num",
    "nullish": "num",  # nulls, NaN and +-inf
    "few_values": "num",  # 4 distinct floats in few bins: exact value counts
    "small_ints": "num",
    "js_num": "num",  # jensenshannon: Sturges counts
    "month": "num",  # constant in the current window
    "gone": "num",  # all null in the current window
    "plan": "cat",
    "label": "cat",  # a string label whose positive class ("churned") sorts first
    "flag": "cat",
    "hostile": "cat",
    'a"; DROP TABLE x; --`': "num",  # a hostile column name
}


def frames(n_ref: int, n_cur: int, shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(n: int, s: float, current: bool) -> pd.DataFrame:
        nullish = rng.normal(s / 2, 1, n)
        nullish[rng.random(n) < 0.1] = np.nan
        nullish[rng.random(n) < 0.01] = np.inf
        nullish[rng.random(n) < 0.01] = -np.inf
        label = np.where(rng.random(n) < 0.2 + s / 5, "churned", "stayed").astype(object)
        label[rng.random(n) < 0.05] = None
        return pd.DataFrame(
            {
                "normal": rng.normal(s, 1, n),
                "skewed": rng.exponential(1 + s, n),
                "nullish": nullish,
                "few_values": rng.choice([0.5, 1.5, 2.5, 3.5], n, p=[0.4, 0.3, 0.2 + s / 10, 0.1 - s / 10]),
                "small_ints": rng.poisson(10 + 3 * s, n).astype("int64"),
                "js_num": rng.normal(s / 3, 1, n),
                "month": np.full(n, 3, dtype="int64") if current else rng.integers(1, 13, n),
                "gone": np.full(n, np.nan) if current else rng.normal(0, 1, n),
                "plan": rng.choice(["basic", "standard", "premium"], n),
                "label": label,
                "flag": rng.random(n) < 0.4 + s / 5,
                "hostile": rng.choice(
                    [HOSTILE, "ok", "NULL", ""], n, p=[0.2 + s / 10, 0.4, 0.2, 0.2 - s / 10]
                ),
                'a"; DROP TABLE x; --`': rng.normal(s / 2, 1, n),
            }
        )

    return one(n_ref, 0.0, False), one(n_cur, shift, True)


def settings(decision: str) -> DriftSettings:
    return DriftSettings(
        column_types=dict(TYPES),  # type: ignore[arg-type]
        columns={"js_num": ("jensenshannon", None)}
        if decision == "evidently"
        else {"skewed": ("wasserstein", None)},
        drift_share=0.3,
        decision=decision,  # type: ignore[arg-type]
    )


def snap(tmp_path: Path, name: str, df: pd.DataFrame) -> SnapshotRef:
    return write_snapshot(df, str(tmp_path / f"{name}.parquet"))


def decisions(result: Any) -> dict[str, tuple[Any, ...]]:
    return {n: (c.method, c.status, c.drifted, c.threshold) for n, c in result.columns.items()}


@pytest.mark.parametrize("decision", ["evidently", "calibrated"])
@pytest.mark.parametrize(
    ("n_ref", "n_cur", "shift", "seed"), [(12_000, 11_000, 0.0, 1), (15_000, 12_000, 0.4, 2)]
)
def test_drift_decisions_equal_pandas_and_duckdb_column_by_column(
    tmp_path: Path, aggregate_engines, decision: str, n_ref: int, n_cur: int, shift: float, seed: int
) -> None:
    spark_engine, duck = aggregate_engines
    ref, cur = frames(n_ref, n_cur, shift, seed)
    s = settings(decision)
    expected = compute_data_drift(ref, cur, s)
    ref_snap, cur_snap = snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur)
    on_duck = duck.data_drift(ref_snap, cur_snap, s)
    got = spark_engine.data_drift(ref_snap, cur_snap, s)
    for name in TYPES:  # column by column: the pandas engine's decision, and duckdb's statistic
        assert decisions(got)[name] == decisions(expected)[name] == decisions(on_duck)[name], name
        g, d = got.columns[name], on_duck.columns[name]
        if d.statistic is not None:
            assert g.statistic == pytest.approx(d.statistic, rel=1e-6, abs=1e-9), name
        assert (g.reference_rows, g.current_rows) == (d.reference_rows, d.current_rows), name
    assert got.dataset_drift == expected.dataset_drift == on_duck.dataset_drift
    assert got.drifted_columns == expected.drifted_columns
    assert got.constant_in_window == expected.constant_in_window == ["month"]
    assert got.columns["gone"].status == "current_all_null"
    assert got.engine.startswith("spark aggregates")


def test_small_windows_are_read_whole_and_decided_by_the_pandas_code(tmp_path: Path, engine) -> None:
    ref, cur = frames(800, 300, 0.5, 7)
    s = settings("evidently")
    expected = compute_data_drift(ref, cur, s)
    got = engine.data_drift(snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), s)
    assert decisions(got) == decisions(expected)
    assert got.engine.startswith("spark (read whole")


def test_drift_over_two_current_snapshots(tmp_path: Path, aggregate_engines) -> None:
    spark_engine, duck = aggregate_engines
    ref, cur = frames(12_000, 12_000, 0.3, 3)
    s = settings("evidently")
    parts = [snap(tmp_path, "a", cur.iloc[:5000]), snap(tmp_path, "b", cur.iloc[5000:])]
    ref_snap = snap(tmp_path, "ref", ref)
    assert decisions(spark_engine.data_drift(ref_snap, parts, s)) == decisions(
        duck.data_drift(ref_snap, parts, s)
    )


# --- through the Spark provider's SparkSubmitHook ------------------------------------------------


@pytest.mark.slow
def test_a_submitted_step_returns_the_in_process_result_and_raises_its_errors(
    churn_data, example_config
) -> None:
    """spark-submit (local[2]) runs the job; the value and the error type come back unchanged."""
    from driftline.engines.spark_submit import SubmittedSparkEngine, exchange_root

    cfg = example_config.model_copy(deep=True)
    cfg.compute = ComputeSection(engine="spark", spark={"conf": {"spark.sql.shuffle.partitions": "2"}})
    submitted = engine_for(cfg)
    assert isinstance(submitted, SubmittedSparkEngine)
    win = window("current", 5)
    ref, facts = submitted.load_window(
        cfg.data.source, win, cfg, snapshot_uri(None, "churn", "run-submit", "w"), {"window": "w"}
    )
    expected = pandas_load(cfg, win)
    assert ref.rows == len(expected.df) and facts["partitions"] == expected.partitions
    with pytest.raises(NothingArrivedError, match="2026-01-09"):  # late data stays late data
        submitted.load_window(
            cfg.data.source, window("current", 9), cfg, snapshot_uri(None, "churn", "r", "x"), {}
        )
    assert list(exchange_root().iterdir()) == []  # nothing left behind


def test_a_missing_spark_connection_is_a_config_error(example_config) -> None:
    from driftline.engines.spark_submit import submit_hook

    compute = ComputeSection(engine="spark", spark={"conn_id": "no_such_spark"})
    with pytest.raises(
        EngineUnavailableError, match=r"compute.spark.conn_id 'no_such_spark': no such Airflow connection"
    ):
        submit_hook(compute, "churn", "validate", [])
