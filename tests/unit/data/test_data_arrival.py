"""check_arrival (the data-arrival check) and the source-root checks: local files, moto S3, SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import utc
from driftline.config.models import LocalSource, S3Source, SqlSource, WindowSection
from driftline.data.arrival import check_arrival
from driftline.data.sources import SourceConfigError, load_window
from driftline.data.windows import resolve_window
from driftline.exceptions import PermanentError
from driftline.hooks.sources import AirflowSourceAccess

TEMPLATE = "{data_root}/churn/dt={ds}/part.parquet"


def window(day: int, days: int = 1, month: int = 1):
    return resolve_window(
        WindowSection(), utc(2026, month, day), utc(2026, month, day + days), purpose="current"
    )


def check(cfg, win, **kw):
    return check_arrival(cfg, win, timestamp_col="event_time", access=AirflowSourceAccess(), **kw)


# --- local ---------------------------------------------------------------------------------


def test_local_partition_present(churn_data: Path):
    arrival = check(LocalSource(kind="local", path=TEMPLATE), window(3))
    assert arrival.arrived and arrival.found == [str(churn_data / "churn/dt=2026-01-03/part.parquet")]


def test_local_missing_days_are_named_with_their_paths(churn_data: Path):
    arrival = check(LocalSource(kind="local", path=TEMPLATE), window(10, days=2))  # data up to the 10th
    assert not arrival.arrived
    assert arrival.missing == [f"2026-01-11: {churn_data / 'churn/dt=2026-01-11/part.parquet'}"]
    assert arrival.to_dict()["window_start"] == "2026-01-10T00:00:00+00:00"


def test_local_missing_root_is_a_config_error_naming_the_field(driftline_home: Path):
    cfg = LocalSource(kind="local", path="{data_root}/labels/dt={ds}/part.parquet")
    with pytest.raises(SourceConfigError, match=r"^data.labels.path: folder '.*/data/labels' does not exist"):
        check(cfg, window(3), field="data.labels")


# --- S3 ------------------------------------------------------------------------------------


def test_s3_key_present_and_missing(s3_bucket):
    cfg = S3Source(kind="s3", uri=f"s3://{s3_bucket}/churn/dt={{ds}}/part-0.parquet")
    assert check(cfg, window(2)).found == ["churn/dt=2026-01-02/part-0.parquet"]
    late = check(cfg, window(1, month=2))
    assert late.missing == [f"2026-02-01: s3://{s3_bucket}/churn/dt=2026-02-01/part-0.parquet"]


def test_s3_prefix_glob(s3_bucket):
    cfg = S3Source(kind="s3", uri=f"s3://{s3_bucket}/csv/{{date:%Y/%m/%d}}/*.csv", format="csv")
    assert check(cfg, window(4)).found == ["csv/2026/01/04/data.csv"]


def test_s3_missing_bucket_fails_at_once_in_the_check_and_in_the_load(s3_bucket):
    cfg = S3Source(kind="s3", uri="s3://no-such-bucket/churn/dt={ds}/part-0.parquet")
    with pytest.raises(SourceConfigError, match=r"^data.source.uri: bucket 'no-such-bucket' does not exist"):
        check(cfg, window(2))
    with pytest.raises(SourceConfigError, match=r"bucket 'no-such-bucket' does not exist") as info:
        load_window(cfg, window(2), ["customer_id"], timestamp_col="event_time", access=AirflowSourceAccess())
    assert isinstance(info.value, PermanentError)


# --- SQL -----------------------------------------------------------------------------------


def test_sql_table_rows_per_day(sqlite_db):
    cfg = SqlSource(kind="sql", conn_id="churn_db", table="events")
    assert check(cfg, window(3)).found == ["2026-01-03: 200 row(s)"]
    late = check(cfg, window(10, days=2))
    assert late.missing == ["2026-01-11: no rows in events with event_time in that day"]


def test_sql_freshness_query(sqlite_db):
    cfg = SqlSource(kind="sql", conn_id="churn_db", table="events")
    query = "SELECT MAX(event_time) FROM events"
    assert check(cfg, window(3), freshness_query=query).arrived
    late = check(cfg, window(10), freshness_query=query)  # the last row is on the 10th, before its end
    assert late.missing and late.missing[0].startswith("freshness query returned 2026-01-10T")
    assert late.missing[0].endswith("waiting for >= 2026-01-11T00:00:00+00:00")


def test_sql_query_source(sqlite_db):
    query = "SELECT * FROM events WHERE event_time >= :window_start AND event_time < :window_end"
    cfg = SqlSource(kind="sql", conn_id="churn_db", query=query)
    assert check(cfg, window(3)).arrived
    assert not check(cfg, window(20)).arrived


def test_sql_missing_table_and_connection_fail_at_once(sqlite_db):
    with pytest.raises(SourceConfigError, match=r"^data.source.table: table 'evnts' does not exist"):
        check(SqlSource(kind="sql", conn_id="churn_db", table="evnts"), window(3))
    with pytest.raises(SourceConfigError, match=r"table 'evnts' does not exist"):
        load_window(
            SqlSource(kind="sql", conn_id="churn_db", table="evnts"),
            window(3),
            ["customer_id"],
            timestamp_col="event_time",
            access=AirflowSourceAccess(),
        )
    with pytest.raises(SourceConfigError, match=r"^data.labels.conn_id: Airflow connection 'nope'"):
        check(SqlSource(kind="sql", conn_id="nope", table="events"), window(3), field="data.labels")


def test_local_hourly_partitions(driftline_home: Path):
    root = driftline_home / "data" / "hourly"
    for hour in (0, 1):
        folder = root / f"2026-01-03/{hour:02d}"
        folder.mkdir(parents=True)
        (folder / "part.parquet").write_bytes(b"x")
    cfg = LocalSource(kind="local", path="{data_root}/hourly/{ts:%Y-%m-%d/%H}/part.parquet")
    win = resolve_window(WindowSection(), utc(2026, 1, 3), utc(2026, 1, 3).replace(hour=3), purpose="current")
    arrival = check(cfg, win)
    assert len(arrival.found) == 2
    assert arrival.missing == [f"2026-01-03T02:00:00+00:00: {root / '2026-01-03/02/part.parquet'}"]
