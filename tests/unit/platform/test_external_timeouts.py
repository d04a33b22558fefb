"""One setting bounds every external call: MLflow (all of it, not only the registry), DynamoDB, S3, SQL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from driftline.timeouts import botocore_options, external_timeout_s, sql_connect_extra

BOUND = 3.0


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("DRIFTLINE_EXTERNAL_TIMEOUT_S", str(BOUND))
    monkeypatch.delenv("DRIFTLINE_REGISTRY_BUDGET", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    return BOUND


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def refused_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def test_the_setting_and_its_default(monkeypatch):
    monkeypatch.delenv("DRIFTLINE_EXTERNAL_TIMEOUT_S", raising=False)
    monkeypatch.delenv("AIRFLOW__DRIFTLINE__EXTERNAL_TIMEOUT_S", raising=False)
    assert external_timeout_s() == 30.0
    monkeypatch.setenv("DRIFTLINE_EXTERNAL_TIMEOUT_S", "abc")
    with pytest.raises(ValueError, match="must be a number of seconds, got 'abc'"):
        external_timeout_s()


def _check_drift_against(port: int, monkeypatch, example_config) -> tuple[float, BaseException]:
    import mlflow  # noqa: F401 - imported before the clock starts: the bound is about calls, not imports
    from driftline.operators.drift import CheckDriftOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port}),
    )
    op = CheckDriftOperator(
        task_id="check_drift",
        model_config=example_config,
        current={"uri": "/nowhere.parquet", "rows": 1, "sha256": ""},
    )
    import datetime as dt

    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    context = {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {},
        "ti": SimpleNamespace(dag_id="driftline__churn", run_id="r", task_id="check_drift", try_number=1),
    }
    began = time.monotonic()
    with pytest.raises(Exception) as caught:
        op.execute(context)
    return time.monotonic() - began, caught.value


def test_check_drift_against_an_mlflow_that_never_answers_fails_within_the_bound(
    bound, silent_port, monkeypatch, example_config, driftline_home
):
    """It spent about 4 minutes per try inside MLflow's own HTTP retries (7, exponential backoff)."""
    elapsed, error = _check_drift_against(silent_port, monkeypatch, example_config)
    assert elapsed < 2 * bound, (elapsed, error)
    assert "timed out" in str(error).lower() or "timeout" in type(error).__name__.lower(), error


def test_check_drift_against_an_mlflow_that_refuses_fails_within_the_bound(
    bound, refused_port, monkeypatch, example_config, driftline_home
):
    elapsed, error = _check_drift_against(refused_port, monkeypatch, example_config)
    assert elapsed < 2 * bound, (elapsed, error)


def test_mlflow_bounds_do_not_override_an_explicit_environment(bound, monkeypatch):
    from driftline.timeouts import bound_mlflow_http

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    bound_mlflow_http()
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"


def test_dynamodb_client_is_bounded(bound, monkeypatch):
    from driftline.hooks.dynamodb import DriftlineDynamoDBHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}})
    )
    config = DriftlineDynamoDBHook("aws_default", writers=8).client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (bound, bound)
    assert (
        config.retries.get("total_max_attempts") == 4
    )  # max_attempts 3 retries + the first and config.max_pool_connections == 16


def test_s3_paths_are_bounded(bound, monkeypatch):
    from driftline.objectstore import object_path

    fs = object_path("s3://bucket/key").fs
    assert fs.config_kwargs["connect_timeout"] == bound and fs.config_kwargs["read_timeout"] == bound
    monkeypatch.setenv(
        "AIRFLOW_CONN_LAKE", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}})
    )
    from driftline.hooks.sources import AirflowSourceAccess

    fs = AirflowSourceAccess().s3_filesystem("bucket", "lake", "data.source.conn_id")
    assert fs.config_kwargs["read_timeout"] == bound and fs.config_kwargs["connect_timeout"] == bound
    monkeypatch.setenv(
        "AIRFLOW_CONN_LAKE",
        json.dumps(
            {"conn_type": "aws", "extra": {"region_name": "us-east-1", "config_kwargs": {"read_timeout": 99}}}
        ),
    )
    fs = AirflowSourceAccess().s3_filesystem("bucket", "lake", "data.source.conn_id")
    assert fs.config_kwargs["read_timeout"] == 99 and fs.config_kwargs["connect_timeout"] == bound
    assert botocore_options()["retries"] == {"max_attempts": 3, "mode": "standard"}


def test_sql_connections_get_connect_and_statement_timeouts(bound, monkeypatch):
    from airflow.models.connection import Connection
    from driftline.hooks.sources import bounded_connection

    conn = Connection(conn_id="wh", conn_type="postgres", host="db", extra=json.dumps({"sslmode": "require"}))
    extra = bounded_connection(conn).extra_dejson
    assert extra == {"connect_timeout": 3, "options": "-c statement_timeout=3000", "sslmode": "require"}
    mine = Connection(conn_id="wh", conn_type="postgres", host="db", extra=json.dumps({"connect_timeout": 9}))
    assert bounded_connection(mine).extra_dejson["connect_timeout"] == 9  # the connection's own value wins
    assert sql_connect_extra("mysql") == {"connect_timeout": 3, "read_timeout": 3}
    assert sql_connect_extra("sqlite") == {}


def test_a_sqlite_source_still_reads_through_the_bounded_hook(bound, monkeypatch, tmp_path):
    import sqlite3

    from driftline.hooks.sources import sql_hook

    db = tmp_path / "w.db"
    with sqlite3.connect(db) as con:
        con.execute("create table t (a int)")
        con.execute("insert into t values (1)")
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    assert sql_hook("wh").get_records("select a from t") == [(1,)]
