"""Run the example model's train task as the real TrainPodOperator against the local cluster.

Started by test_train_pod_k8s.py in a process of its own (its environment carries the Airflow
connections: the cluster's kubeconfig, moto's S3, MLflow). Writes the training window of the
example data as a validated snapshot to S3, then runs a DAG holding the operator that the pipeline
builds for `training.backend: kubernetes` with `dag.test()`, and prints one JSON line: the task's
state and its XCom (the pod's TrainResult).

    python tests/containers/run_train_pod.py DATA_ROOT [--kill-after SECONDS]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from airflow.sdk import DAG
from driftline.config.models import ModelConfig
from driftline.data.snapshots import mark, write_snapshot
from driftline.operators.train_pod import TrainPodOperator

REPO = Path(__file__).resolve().parents[2]
DATA_DAY = dt.date(2026, 1, 15)


def config() -> ModelConfig:
    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["training"]["backend"] = "kubernetes"
    raw["training"].setdefault("kubernetes", {}).update(
        {
            "namespace": "driftline",
            "mlflow_secret": "driftline-mlflow",
            "image": "ghcr.io/driftline/train:0.1.0",
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "startup_timeout_seconds": 300,
        }
    )
    return ModelConfig.model_validate(raw)


def snapshot(data_root: Path, run_id: str) -> dict[str, object]:
    days = [DATA_DAY - dt.timedelta(days=i) for i in range(14)]
    frames = [pd.read_parquet(data_root / "churn" / f"dt={d.isoformat()}" / "part.parquet") for d in days]
    frame = pd.concat(frames, ignore_index=True)
    ref = write_snapshot(frame, f"s3://driftline-snapshots/churn/{run_id}/training.parquet")
    return mark(ref, "validated").to_dict()  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_root", type=Path)
    args = parser.parse_args()
    run_id = f"k8s-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    cfg = config()
    ref = snapshot(args.data_root, run_id)
    with DAG(
        "driftline__churn__k8s_train", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ) as dag:
        TrainPodOperator(
            task_id="train",
            model_config=cfg,
            snapshot=ref,
            kubernetes_conn_id="kubernetes_default",
            image_pull_policy="IfNotPresent",
            # No kube-proxy or DNS in the local cluster: the pod reaches MLflow and S3 on the host.
            hostnetwork=True,
            retries=0,
        )
    run = dag.test(
        logical_date=dt.datetime.combine(DATA_DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    )
    ti = next(t for t in run.get_task_instances() if t.task_id == "train")
    result = ti.xcom_pull(task_ids="train") if ti.state == "success" else None
    print(json.dumps({"state": str(ti.state), "result": result}, default=str))
    return 0 if ti.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
