"""Run the example model's train task as the real TrainPodOperator against the local cluster.

Started by test_train_pod_k8s.py in a process of its own (its environment carries the Airflow
connections: the cluster's kubeconfig, moto's S3, MLflow; and AIRFLOW__CORE__DAGS_FOLDER, a folder
holding only this DAG: Airflow 3.3's `dag.test()` runs a DAG only once it is parsed from the DAGs
folder and serialized).

    python tests/containers/run_train_pod.py snapshot DATA_ROOT OUT.json
        write the training window of the example data as a validated snapshot to S3, and its
        SnapshotRef to OUT.json
    python tests/containers/run_train_pod.py run SNAPSHOT.json RUN_AFTER
        run the DAG holding the operator the pipeline builds for `training.backend: kubernetes`
        with `dag.test(run_after=RUN_AFTER)` and print one JSON line: the task's state and its XCom
        (the pod's TrainResult). The same RUN_AFTER gives the same Airflow run id: a second
        process started with it is a second try of the same task (the reattach test).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATA_DAY = dt.date(2026, 1, 15)
DAG_ID = "driftline__churn__k8s_train"
SNAPSHOT_ENV = "DRIFTLINE_K8S_TEST_SNAPSHOT"
# The DAGs folder's only file: the DAG below, built from the snapshot named in SNAPSHOT_ENV.
DAG_FILE = "# an airflow DAG: the train task as a pod\nfrom tests.containers.run_train_pod import build_dag\n\ndag = build_dag()\n"


def config() -> Any:
    import yaml
    from driftline.config.models import ModelConfig

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["training"]["backend"] = "kubernetes"
    raw["training"].setdefault("kubernetes", {}).update(
        {
            "mlflow_secret": "driftline-mlflow",
            # One CPU node without GPUs or a `workload: training` label: the example's GPU request,
            # node selector, toleration and GPU pool are checked by the pod spec tests only.
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "node_selector": {},
            "tolerations": [],
            "pool": "default_pool",
            "startup_timeout_seconds": 300,
        }
    )
    return ModelConfig.model_validate(raw)


def write_training_snapshot(data_root: Path, out: Path) -> None:
    import pandas as pd
    from driftline.data.snapshots import mark, write_snapshot

    days = [DATA_DAY - dt.timedelta(days=i) for i in range(14)]
    frames = [pd.read_parquet(data_root / "churn" / f"dt={d.isoformat()}" / "part.parquet") for d in days]
    frame = pd.concat(frames, ignore_index=True)
    key = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}"
    ref = write_snapshot(frame, f"s3://driftline-snapshots/churn/{key}/training.parquet")
    out.write_text(json.dumps(mark(ref, "validated").to_dict()))


def build_dag() -> Any:
    from airflow.sdk import DAG
    from driftline.operators.train_pod import TrainPodOperator

    ref = json.loads(os.environ[SNAPSHOT_ENV])
    with DAG(DAG_ID, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
        TrainPodOperator(
            task_id="train",
            model_config=config(),
            snapshot=ref,
            kubernetes_conn_id="kubernetes_default",
            image_pull_policy="IfNotPresent",
            # No kube-proxy or DNS in the local cluster: the pod reaches MLflow and S3 on the host.
            hostnetwork=True,
            retries=0,
        )
    return dag


def run(snapshot_json: Path, run_after: dt.datetime) -> int:
    os.environ[SNAPSHOT_ENV] = snapshot_json.read_text()
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "k8s_train.py").write_text(DAG_FILE)
    dag = build_dag()
    logical = dt.datetime.combine(DATA_DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    dagrun = dag.test(logical_date=logical, run_after=run_after)
    ti = next(t for t in dagrun.get_task_instances() if t.task_id == "train")
    result = ti.xcom_pull(task_ids="train") if ti.state == "success" else None
    print(json.dumps({"state": str(ti.state), "run_id": dagrun.run_id, "result": result}, default=str))
    return 0 if ti.state == "success" else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["snapshot"] and len(argv) == 3:
        write_training_snapshot(Path(argv[1]), Path(argv[2]))
        return 0
    if argv[:1] == ["run"] and len(argv) == 3:
        return run(Path(argv[1]), dt.datetime.fromisoformat(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
