"""Fixtures for inference tests: a DynamoDB moto server, the example config with an inference
section, a fitted churn model and a validated current-window snapshot."""

from __future__ import annotations

import datetime as dt
import itertools
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
