"""Fixtures for the data tests: generated churn partitions, a moto S3 server, a SQLite database."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests import data_helpers by name

from data_helpers import ROWS


@pytest.fixture(scope="session")
def generator(churn_generator):
    return churn_generator


@pytest.fixture
def churn_data(driftline_home: Path, generator) -> Path:
    """10 days (2026-01-01..10) of churn partitions under DRIFTLINE_DATA; returns the data root."""
    root = driftline_home / "data"
    generator.generate(root, dt.date(2026, 1, 1), 10, rows=ROWS)
    return root


@pytest.fixture(scope="session")
def day_frames(generator) -> dict[dt.date, pd.DataFrame]:
    """The same 10 days as frames (for S3 and SQL fixtures)."""
    start = dt.date(2026, 1, 1)
    return {
        start + dt.timedelta(days=i): generator.day_frame(start + dt.timedelta(days=i), ROWS, False, 42)
        for i in range(10)
    }


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server on loopback for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _s3_objects(moto_server, day_frames) -> str:
    """Bucket `churn-data`: parquet under churn/dt=YYYY-MM-DD/, CSV under csv/YYYY/MM/DD/, one broken object."""
    import io

    import boto3

    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket="churn-data")
    for day, frame in day_frames.items():
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        client.put_object(
            Bucket="churn-data", Key=f"churn/dt={day.isoformat()}/part-0.parquet", Body=buf.getvalue()
        )
        client.put_object(
            Bucket="churn-data", Key=f"csv/{day:%Y/%m/%d}/data.csv", Body=frame.to_csv(index=False).encode()
        )
    client.put_object(Bucket="churn-data", Key="broken/dt=2026-01-01/part-0.parquet", Body=b"PAR1 not really")
    return "churn-data"


@pytest.fixture
def s3_bucket(_s3_objects, moto_server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bucket name, with AIRFLOW_CONN_AWS_DEFAULT and AIRFLOW_CONN_S3_DATA pointing at moto for one test."""
    conn = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", conn)
    monkeypatch.setenv("AIRFLOW_CONN_S3_DATA", conn)
    return _s3_objects


@pytest.fixture
def sqlite_db(tmp_path: Path, day_frames, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite file with table `events` (all 10 days) behind connection id `churn_db`."""
    import sqlite3

    path = tmp_path / "churn.db"
    frame = pd.concat(day_frames.values(), ignore_index=True)
    frame = frame.assign(event_time=frame["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    with sqlite3.connect(path) as conn:
        frame.to_sql("events", conn, index=False)
    monkeypatch.setenv("AIRFLOW_CONN_CHURN_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path
