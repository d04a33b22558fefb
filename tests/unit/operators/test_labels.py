"""LoadLabelsOperator and the labels branch of the pipeline."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
from driftline.config.models import LocalSource
from driftline.data.snapshots import read_snapshot
from driftline.factory.dags import build_pipeline_dag
from driftline.operators.labels import LoadLabelsOperator


def _context(day: dt.date) -> dict:
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    ti = SimpleNamespace(
        dag_id="driftline__churn", run_id=f"manual__{day}", task_id="load_labels", try_number=1
    )
    return {
        "data_interval_start": end - dt.timedelta(days=1),
        "data_interval_end": end,
        "ti": ti,
        "params": {},
    }


def _labelled(example_config, tmp_path):
    cfg = example_config.model_copy(deep=True)
    cfg.data.labels = LocalSource(kind="local", path=str(tmp_path / "labels" / "dt={ds}" / "labels.parquet"))
    cfg.data.snapshot_root = str(tmp_path / "snapshots")
    return cfg


def test_labels_are_loaded_and_null_rows_dropped(example_config, tmp_path):
    cfg = _labelled(example_config, tmp_path)
    folder = tmp_path / "labels" / "dt=2026-01-10"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2", None, "C4"],
            "event_time": pd.to_datetime(["2026-01-10T01:00Z"] * 4),
            "churned": [1, 0, 1, None],
        }
    ).to_parquet(folder / "labels.parquet")
    ref = LoadLabelsOperator(model_config=cfg).execute(_context(dt.date(2026, 1, 10)))
    assert ref["status"] == "validated" and ref["rows"] == 2
    assert ref["facts"]["validation"]["dropped_null_rows"] == 2
    assert read_snapshot(ref["uri"])["customer_id"].tolist() == ["C1", "C2"]


def test_no_labels_yet_is_an_empty_snapshot_not_an_error(example_config, tmp_path):
    (tmp_path / "labels").mkdir()  # the root exists; the day's partition has not arrived
    ref = LoadLabelsOperator(model_config=_labelled(example_config, tmp_path)).execute(
        _context(dt.date(2026, 1, 11))
    )
    assert ref["rows"] == 0 and ref["status"] == "validated"


def test_missing_labels_root_is_a_config_error(example_config, tmp_path):
    import pytest
    from driftline.data.sources import SourceConfigError

    with pytest.raises(SourceConfigError, match=r"^data.labels.path: folder '.*/labels' does not exist"):
        LoadLabelsOperator(model_config=_labelled(example_config, tmp_path)).execute(
            _context(dt.date(2026, 1, 11))
        )


def test_pipeline_wires_labels_into_check_drift(example_config, tmp_path, example_config_path):
    dag = build_pipeline_dag(_labelled(example_config, tmp_path), example_config_path)
    assert dag.get_task("load_labels").downstream_task_ids == {"check_drift"}
    assert "load_labels" not in {
        t.task_id for t in build_pipeline_dag(example_config, example_config_path).tasks
    }


def test_a_corrupt_labels_partition_is_an_error_not_no_labels(example_config, tmp_path):
    import pytest
    from driftline.data.frames import CorruptPartitionError

    cfg = _labelled(example_config, tmp_path)
    folder = tmp_path / "labels" / "dt=2026-01-12"
    folder.mkdir(parents=True)
    (folder / "labels.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorruptPartitionError, match="dt=2026-01-12"):
        LoadLabelsOperator(model_config=cfg).execute(_context(dt.date(2026, 1, 12)))


def test_an_unreadable_labels_source_is_an_error_not_no_labels(example_config, tmp_path, monkeypatch):
    """A database that cannot be read (here: not a database file) retries, then fails; a table that
    does not exist is a configuration error (issue 11 item 7): it fails at once, naming the field."""
    import json

    import pytest
    from driftline.config.models import SqlSource
    from driftline.exceptions import DataSourceError, PermanentError

    db = tmp_path / "labels.db"
    db.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("AIRFLOW_CONN_LABELS_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    cfg = example_config.model_copy(deep=True)
    cfg.data.labels = SqlSource(kind="sql", conn_id="labels_db", table="labels")
    cfg.data.snapshot_root = str(tmp_path / "snapshots")
    with pytest.raises(DataSourceError, match="not a database") as info:
        LoadLabelsOperator(model_config=cfg).execute(_context(dt.date(2026, 1, 12)))
    assert not isinstance(info.value, PermanentError)  # retried: the database may be back

    db.unlink()
    import sqlite3

    sqlite3.connect(db).close()  # an empty database: the table does not exist
    with pytest.raises(PermanentError, match=r"^data.labels.table: table 'labels' does not exist"):
        LoadLabelsOperator(model_config=cfg).execute(_context(dt.date(2026, 1, 12)))
