"""The duckdb engine's load and validation reach the pandas engine's results on the same data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from driftline.config.models import ComputeSection, SqlSource, WindowSection
from driftline.data.snapshots import mark, read_snapshot, snapshot_uri, write_snapshot
from driftline.data.sources import NothingArrivedError, SourceSchemaError, load_window
from driftline.data.windows import resolve_window
from driftline.engines import engine_for
from driftline.engines.duckdb import DuckDBEngine
from driftline.hooks.sources import AirflowSourceAccess
from driftline.validation.gate import validate_frame

ENGINE = DuckDBEngine(ComputeSection(engine="duckdb", memory_limit_mb=256))


def utc(day: int) -> dt.datetime:
    return dt.datetime(2026, 1, day, tzinfo=dt.UTC)


def window(kind: str, day: int, days: int = 3):
    if kind == "current":
        return resolve_window(WindowSection(), utc(day), utc(day + 1), purpose="current")
    return resolve_window(
        WindowSection(kind="rolling", days=days), utc(day - 1), utc(day), purpose="training"
    )


@pytest.fixture
def churn_data(driftline_home: Path, churn_generator) -> Path:
    root = driftline_home / "data"
    churn_generator.generate(root, dt.date(2026, 1, 1), 6, rows=300)
    return root


def pandas_load(config, win):
    return load_window(
        config.data.source,
        win,
        config.columns,
        timestamp_col=config.data.timestamp,
        feature_types={f.name: f.type for f in config.data.features},
        access=AirflowSourceAccess(),
    )


def engine_load(config, win, name="w", **kw):
    uri = snapshot_uri(None, config.model.name, "run1", name)
    return ENGINE.load_window(config.data.source, win, config, uri, {"window": name}, **kw)


def same_rows(a: pd.DataFrame, b: pd.DataFrame, config) -> None:
    key = [config.data.entity_id, config.data.timestamp]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        left, right = a[col], b[col]
        if str(left.dtype) == "category" or str(right.dtype) == "category":
            left, right = left.astype(str), right.astype(str)
        pd.testing.assert_series_equal(left, right, check_dtype=False, check_names=False, obj=col)


@pytest.mark.parametrize("kind", ["current", "training"])
def test_load_reads_the_same_rows_as_the_pandas_engine(churn_data, example_config, kind: str) -> None:
    win = window(kind, 5)
    expected = pandas_load(example_config, win)
    ref, facts = engine_load(example_config, win)
    got = read_snapshot(ref.uri, require="raw", sha256=ref.sha256)
    assert ref.rows == len(expected.df) and facts["partitions"] == expected.partitions
    same_rows(expected.df, got, example_config)
    assert str(got[example_config.data.timestamp].dt.tz) == "UTC"


def test_load_is_write_once_and_content_addressed(churn_data, example_config) -> None:
    first, _ = engine_load(example_config, window("current", 3))
    again, _ = engine_load(example_config, window("current", 3))
    assert (first.uri, first.sha256) == (again.uri, again.sha256)


def test_a_missing_current_day_is_late_data(churn_data, example_config) -> None:
    with pytest.raises(NothingArrivedError, match="2026-01-09"):
        engine_load(example_config, window("current", 9))


def test_training_window_excludes_quarantined_ranges(churn_data, example_config) -> None:
    win = window("training", 5, 3)
    ref, facts = engine_load(
        example_config, win, exclude_ranges=[("2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00")]
    )
    assert facts["quarantined_excluded"] == [
        {"start": "2026-01-03T00:00:00+00:00", "end": "2026-01-04T00:00:00+00:00", "rows": 300}
    ]
    assert ref.rows == 600


def test_a_type_mismatch_names_the_column(churn_data, example_config) -> None:
    cfg = example_config.model_copy(deep=True)
    cfg.data.features[4].type = "int"  # plan is text
    with pytest.raises(SourceSchemaError, match="plan: expected int, found VARCHAR"):
        engine_load(cfg, window("current", 2))


def test_sql_source_streams_the_window(
    tmp_path, driftline_home, churn_generator, example_config, monkeypatch
) -> None:
    import sqlite3

    frames = [churn_generator.day_frame(dt.date(2026, 1, d), 300, False, 42) for d in (1, 2, 3)]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.assign(event_time=frame["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    path = tmp_path / "churn.db"
    with sqlite3.connect(path) as conn:
        frame.to_sql("events", conn, index=False)
    monkeypatch.setenv("AIRFLOW_CONN_CHURN_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    cfg = example_config.model_copy(deep=True)
    cfg.data.source = SqlSource(kind="sql", conn_id="churn_db", table="events")
    expected = pandas_load(cfg, window("current", 2))
    ref, _ = ENGINE.load_window(
        cfg.data.source,
        window("current", 2),
        cfg,
        snapshot_uri(None, "churn", "r", "sql"),
        {},
        access=AirflowSourceAccess(),
    )
    assert ref.rows == len(expected.df) == 300


@pytest.mark.slow
def test_validation_on_gx_sql_engine_matches_pandas(driftline_home, churn_generator, example_config) -> None:
    """Same success, same failing expectations and unexpected counts, on a clean and a corrupt day."""
    clean = churn_generator.day_frame(dt.date(2026, 1, 5), 500, False, 42)
    corrupt = churn_generator.corrupt(churn_generator.day_frame(dt.date(2026, 1, 17), 500, False, 42), 42)
    for name, frame in (("clean", clean), ("corrupt", corrupt)):
        expected = validate_frame(frame, example_config)
        ref = write_snapshot(frame, snapshot_uri(None, "churn", "v", name))
        got = ENGINE.validate(ref, example_config)
        assert got.success == expected.success, name
        assert [(f.expectation, f.column, f.unexpected_count) for f in got.failures] == [
            (f.expectation, f.column, f.unexpected_count) for f in expected.failures
        ], name
        assert [(f.expectation, f.column) for f in got.warnings] == [
            (f.expectation, f.column) for f in expected.warnings
        ], name
        assert got.statistics == expected.statistics, name
        assert "SqlAlchemyExecutionEngine" in got.meta["engine"]
    assert not ENGINE.validate(
        write_snapshot(corrupt, snapshot_uri(None, "churn", "v", "c2")), example_config
    ).success


def test_validation_refuses_a_snapshot_that_is_not_raw_or_not_the_handed_one(
    driftline_home, churn_generator, example_config
) -> None:
    from driftline.exceptions import SnapshotError

    ref = write_snapshot(
        churn_generator.day_frame(dt.date(2026, 1, 5), 200, False, 1), snapshot_uri(None, "m", "r", "x")
    )
    validated = mark(ref, "validated")
    with pytest.raises(SnapshotError, match="only 'raw'"):
        ENGINE.validate(validated, example_config)


def test_pandas_is_the_default(example_config) -> None:
    assert example_config.compute.engine == "pandas" and engine_for(example_config) is None
