"""Shared by the inference and api benchmarks: a moto DynamoDB server process, example data, a model."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO / "include"))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """`moto_server` in its own process on a free loopback port (so it does not share our GIL)."""

    def __enter__(self) -> str:
        port = free_port()
        exe = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return self.url
            except OSError:
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("moto_server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def client(endpoint: str, pool: int = 32) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=pool)
    )


def example_config(table: str = "bench-preds") -> Any:
    from driftline.config import load_config
    from driftline.config.models import InferenceSection

    config = load_config(REPO / "dags" / "configs" / "churn.yaml")
    return config.model_copy(update={"inference": InferenceSection(table=table)})


def churn_frame(rows: int, seed: int = 11) -> Any:
    """`rows` rows of the example churn data with unique customer ids (one day's schema)."""
    import generate_churn_data as gen
    import pandas as pd

    day, per_day, frames, made = dt.date(2026, 1, 15), gen.CUSTOMERS, [], 0
    i = 0
    while made < rows:
        n = min(per_day, rows - made)
        frame = gen.day_frame(day, n, False, seed + i)
        frame["customer_id"] = [f"C{made + j:09d}" for j in range(n)]
        frames.append(frame)
        made += n
        i += 1
    return pd.concat(frames, ignore_index=True)


def fitted_model(config: Any, rows: int = 3000) -> Any:
    from driftline.training.estimators import fit_model, prepare_features

    df = churn_frame(rows, seed=3)
    return fit_model(
        config.training.estimator,
        config.data.features,
        prepare_features(df, config.data.features),
        df[config.data.label],
    )


def validated_snapshot(df: Any, folder: Path, name: str) -> dict[str, Any]:
    from driftline.data.snapshots import mark, write_snapshot

    return mark(write_snapshot(df, str(folder / f"{name}.parquet"), {}), "validated").to_dict()
