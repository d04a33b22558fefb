"""Fixtures for inference tests: a DynamoDB moto server, the example config with an inference
section, a fitted churn model and a validated current-window snapshot."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests import inference_helpers by name

DAY = dt.date(2026, 1, 15)
_tables = itertools.count()


@pytest.fixture(scope="session")
def ddb_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ddb(ddb_endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=ddb_endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=32),
    )


@pytest.fixture
def table_name() -> str:
    return f"preds-{next(_tables)}"


@pytest.fixture
def make_config(example_config: Any, table_name: str) -> Any:
    from driftline.config.models import InferenceSection

    def make(**inference: Any) -> Any:
        section = InferenceSection(**{"table": table_name, "writers": 4, "chunk_rows": 100, **inference})
        return example_config.model_copy(update={"inference": section})

    return make


@pytest.fixture
def s3_conn(ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The export bucket on the moto server and `aws_default` pointing at it."""
    import boto3
    from inference_helpers import EXPORT_BUCKET

    s3 = boto3.client("s3", endpoint_url=ddb_endpoint, region_name="us-east-1")
    if EXPORT_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=EXPORT_BUCKET)
    conn = {"conn_type": "aws", "extra": {"endpoint_url": ddb_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return "aws_default"


@pytest.fixture
def snap_config(make_config: Any, s3_conn: str, table_name: str) -> Any:
    """The example config in snapshot mode (exports under the test's own prefix)."""
    from inference_helpers import EXPORT_BUCKET

    return make_config(
        mode="snapshot",
        export_uri=f"s3://{EXPORT_BUCKET}/predictions/{table_name}",
        retention_hours=2,
        ttl_days=30,
    )


@pytest.fixture(scope="session")
def churn_days(churn_generator: Any) -> pd.DataFrame:
    frames = [churn_generator.day_frame(DAY - dt.timedelta(days=i), 300, False, 42 + i) for i in range(2)]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def churn_model(churn_days: pd.DataFrame, example_config_session: Any) -> Any:
    from driftline.training.estimators import fit_model, prepare_features

    cfg = example_config_session
    df = churn_days.dropna(subset=[cfg.data.entity_id])
    return fit_model(
        cfg.training.estimator, cfg.data.features, prepare_features(df, cfg.data.features), df[cfg.data.label]
    )


@pytest.fixture(scope="session")
def constant_model(churn_days: pd.DataFrame, example_config_session: Any) -> Any:
    """A 'challenger' that always says 0 with probability 1: its items are easy to tell apart."""
    from driftline.training.estimators import prepare_features
    from sklearn.dummy import DummyClassifier

    cfg = example_config_session
    X = prepare_features(churn_days.dropna(subset=[cfg.data.entity_id]), cfg.data.features)
    return DummyClassifier(strategy="constant", constant=0).fit(X, [0] * (len(X) - 1) + [1])


@pytest.fixture(scope="session")
def example_config_session() -> Any:
    from driftline.config import load_config

    return load_config(Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml")


@pytest.fixture
def current_frame(churn_generator: Any) -> pd.DataFrame:
    df = churn_generator.day_frame(DAY, 300, False, 99)
    return df.dropna(subset=["customer_id"]).reset_index(drop=True)


@pytest.fixture
def validated(driftline_home: Path, current_frame: pd.DataFrame) -> dict[str, Any]:
    """validate_current's payload for the current window."""
    from driftline.data.snapshots import mark, snapshot_uri, write_snapshot

    uri = snapshot_uri(str(driftline_home / "snapshots"), "churn", "scheduled__2026-01-16", "current_window")
    return mark(write_snapshot(current_frame, uri, {}), "validated").to_dict()
