"""S3 (moto server on loopback, read through ObjectStoragePath) and SQL (SQLite connection, common-sql) sources."""

from __future__ import annotations

import pandas as pd
import pytest
from data_helpers import ROWS, utc
from driftline.config.models import S3Source, SqlSource, WindowSection
from driftline.data.sources import (
    CorruptPartitionError,
    SourceConfigError,
    SourceSchemaError,
    load_window,
)
from driftline.data.windows import resolve_window
from driftline.exceptions import DataSourceError, PermanentError
from driftline.hooks.sources import AirflowSourceAccess, sql_hook

COLUMNS = ["customer_id", "event_time", "tenure_months", "usage_minutes", "plan", "churned"]
TYPES = {"tenure_months": "int", "usage_minutes": "float", "plan": "category"}


def current(day: int):
    return resolve_window(WindowSection(), utc(2026, 1, day), utc(2026, 1, day + 1), purpose="current")


def training(kind: str, days: int | None, end_day: int):
    return resolve_window(
        WindowSection(kind=kind, days=days),
        utc(2026, 1, end_day - 1),
        utc(2026, 1, end_day),
        purpose="training",
    )


def load(source, window, columns=COLUMNS):
    return load_window(
        source, window, columns, timestamp_col="event_time", feature_types=TYPES, access=AirflowSourceAccess()
    )


# --- S3 ------------------------------------------------------------------------------------


def s3(uri: str, fmt: str = "parquet", conn_id: str = "aws_default") -> S3Source:
    return S3Source(kind="s3", uri=uri, format=fmt, conn_id=conn_id)


def test_s3_current_window(s3_bucket):
    loaded = load(s3(f"s3://{s3_bucket}/churn/dt={{ds}}/*.parquet"), current(4))
    assert loaded.partitions == ["churn/dt=2026-01-04/part-0.parquet"]
    assert len(loaded.df) == ROWS and loaded.df["event_time"].dt.tz is not None


def test_s3_rolling_csv_with_strftime_template_and_named_connection(s3_bucket):
    loaded = load(
        s3(f"s3://{s3_bucket}/csv/{{date:%Y/%m/%d}}/data.csv", "csv", "s3_data"), training("rolling", 3, 6)
    )
    assert loaded.partitions == [f"csv/2026/01/0{d}/data.csv" for d in (3, 4, 5)]
    assert len(loaded.df) == 3 * ROWS and loaded.df["tenure_months"].dtype == "int64"


def test_s3_expanding_discovers_partitions(s3_bucket):
    loaded = load(s3(f"s3://{s3_bucket}/churn/dt={{ds}}/part-0.parquet"), training("expanding", None, 4))
    assert loaded.partitions == [f"churn/dt=2026-01-0{d}/part-0.parquet" for d in (1, 2, 3)]
    assert len(loaded.df) == 3 * ROWS


def test_s3_missing_partition_names_the_key(s3_bucket):
    with pytest.raises(DataSourceError, match=r"2026-02-01: churn/dt=2026-02-01/part-0.parquet"):
        load(
            s3(f"s3://{s3_bucket}/churn/dt={{ds}}/part-0.parquet"),
            resolve_window(WindowSection(), utc(2026, 2, 1), utc(2026, 2, 2), purpose="current"),
        )


def test_s3_corrupt_object_is_named(s3_bucket):
    with pytest.raises(
        CorruptPartitionError, match=r"broken/dt=2026-01-01/part-0.parquet: cannot read as parquet"
    ):
        load(s3(f"s3://{s3_bucket}/broken/dt={{ds}}/*.parquet"), current(1))


def test_s3_unknown_connection_is_named(s3_bucket):
    with pytest.raises(
        SourceConfigError, match=r"Airflow connection 'no_such_aws' does not exist.*AIRFLOW_CONN_NO_SUCH_AWS"
    ):
        load(s3(f"s3://{s3_bucket}/churn/dt={{ds}}/*.parquet", conn_id="no_such_aws"), current(1))


# --- SQL -----------------------------------------------------------------------------------


def test_sql_table_pushes_the_window_into_the_query(sqlite_db):
    loaded = load(SqlSource(kind="sql", conn_id="churn_db", table="events"), current(3))
    assert len(loaded.df) == ROWS
    assert loaded.df["event_time"].min() >= pd.Timestamp("2026-01-03", tz="UTC")
    assert loaded.df["event_time"].max() < pd.Timestamp("2026-01-04", tz="UTC")


def test_sql_generated_query_is_quoted(sqlite_db):
    from driftline.data.sources import build_query

    hook = sql_hook("churn_db")
    sql, params = build_query(
        SqlSource(kind="sql", conn_id="churn_db", table="events"),
        hook,
        current(3),
        ["customer_id", "event_time"],
        "event_time",
    )
    assert (
        sql == 'SELECT "customer_id", "event_time" FROM "events" WHERE "event_time" >= ? AND "event_time" < ?'
    )
    assert params == ["2026-01-03 00:00:00", "2026-01-04 00:00:00"]


def test_sql_query_with_bind_params_and_expanding_window(sqlite_db):
    query = (
        "SELECT * FROM events WHERE event_time >= :window_start AND event_time < :window_end AND plan != 'x'"
    )
    loaded = load(SqlSource(kind="sql", conn_id="churn_db", query=query), training("expanding", None, 3))
    assert len(loaded.df) == 2 * ROWS and loaded.partitions == ["sql source 'query' (connection 'churn_db')"]


def test_sql_missing_columns_are_listed(sqlite_db):
    with pytest.raises(SourceSchemaError, match=r"table 'events' has no column\(s\) \['region'\]"):
        load(SqlSource(kind="sql", conn_id="churn_db", table="events"), current(3), [*COLUMNS, "region"])
    query = "SELECT customer_id, event_time FROM events WHERE event_time < :window_end"
    with pytest.raises(SourceSchemaError, match=r"missing column\(s\) \['tenure_months'"):
        load(SqlSource(kind="sql", conn_id="churn_db", query=query), current(3))


def test_sql_empty_window(sqlite_db):
    with pytest.raises(DataSourceError, match="no rows with event_time in"):
        load(SqlSource(kind="sql", conn_id="churn_db", table="events"), current(25))


def test_sql_unknown_connection_points_to_airflow_connections(driftline_home):
    with pytest.raises(SourceConfigError) as info:
        load(SqlSource(kind="sql", conn_id="warehouse", table="events"), current(3))
    assert "Airflow connection 'warehouse' does not exist" in str(info.value)
    assert "Admin > Connections" in str(info.value) and "AIRFLOW_CONN_WAREHOUSE" in str(info.value)
    assert isinstance(info.value, PermanentError) and isinstance(info.value, DataSourceError)


def test_sql_bad_query_names_the_source(sqlite_db):
    with pytest.raises(DataSourceError, match=r"sql source 'query' \(connection 'churn_db'\): query failed"):
        load(SqlSource(kind="sql", conn_id="churn_db", query="SELECT * FROM nowhere"), current(3))


def test_sql_identifier_with_quote_is_refused(sqlite_db):
    from driftline.data.sources import quote_identifier

    with pytest.raises(SourceConfigError, match="cannot quote SQL identifier"):
        quote_identifier(sql_hook("churn_db"), 'x"; DROP TABLE events; --')


def test_snapshots_round_trip_in_s3(s3_bucket, monkeypatch):
    """Snapshots, their manifests and quarantine work on an object-store root (moto on loopback)."""
    import pandas as pd
    from driftline.data import snapshots
    from driftline.exceptions import SnapshotError

    monkeypatch.setenv("DRIFTLINE_SNAPSHOT_CONN_ID", "s3_data")
    root = f"s3://{s3_bucket}/driftline/snapshots"
    uri = snapshots.snapshot_uri(root, "churn", "scheduled__2026-01-02", "current_window")
    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]})
    ref = snapshots.mark(snapshots.write_snapshot(frame, uri), "validated")
    uri = ref.uri  # content-addressed: current_window.<sha256[:16]>.parquet
    pd.testing.assert_frame_equal(snapshots.read_snapshot(uri, sha256=ref.sha256), frame)
    moved = snapshots.quarantine(ref, {"success": False})
    assert moved.uri == (
        f"s3://{s3_bucket}/driftline/snapshots/churn/quarantine/scheduled__2026-01-02/"
        f"current_window.{ref.sha256[:16]}.parquet"
    )
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshots.read_snapshot(uri)
    with pytest.raises(SnapshotError, match="has status 'quarantined'"):
        snapshots.read_snapshot(moved.uri)


def test_a_snapshot_root_in_a_missing_bucket_is_an_error_and_no_bucket_is_created(
    s3_bucket, moto_server, monkeypatch
):
    import boto3
    import pandas as pd
    from driftline.data import snapshots

    monkeypatch.setenv("DRIFTLINE_SNAPSHOT_CONN_ID", "s3_data")
    uri = snapshots.snapshot_uri(
        "s3://churn-dta/driftline", "churn", "scheduled__2026-01-02", "current_window"
    )
    with pytest.raises(
        snapshots.SnapshotStoreError, match=r"the bucket 'churn-dta' does not exist.*never creates buckets"
    ):
        snapshots.write_snapshot(pd.DataFrame({"x": [1.0]}), uri)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    assert "churn-dta" not in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_s3_and_sql_sources_need_connection_access(s3_bucket):
    """The data layer imports no Airflow: connections reach it only through the access object."""
    with pytest.raises(SourceConfigError, match=r"data.source: reading a s3 source needs connection access"):
        load_window(
            s3(f"s3://{s3_bucket}/churn/dt={{ds}}/*.parquet"), current(4), COLUMNS, timestamp_col="event_time"
        )
    sql = SqlSource(kind="sql", conn_id="churn_db", table="events")
    with pytest.raises(SourceConfigError, match=r"data.source: reading a sql source needs connection access"):
        load_window(sql, current(4), COLUMNS, timestamp_col="event_time")
