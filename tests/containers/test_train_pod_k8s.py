"""The training pod for real: the pipeline's TrainPodOperator runs the training image on a
Kubernetes API server here (docker/local/k8s.sh: 1.20 from Debian's sources, containerd, one
node), the pod reads its snapshot from S3 (moto), logs to MLflow, and its exit code, logs and
XCom reach Airflow. Opt-in: `make test-containers` (`make k8s-local` builds the cluster once)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.conftest import LOCAL, REPO

pytestmark = pytest.mark.timeout(3600)  # image builds and a stack start on 2 cores take minutes

K8S = str(LOCAL / "k8s.sh")
MLFLOW_PORT = 18990
MOTO_PORT = 18991
K8S_HOME = Path(os.environ.get("K8S_HOME", Path.home() / ".cache" / "driftline" / "k8s"))
KUBECONFIG = K8S_HOME / "kubeconfig"


def kubectl(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([K8S, "kubectl", *args], input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def wait_port(port: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(images: dict[str, str], podman: dict[str, str]) -> Iterator[None]:
    subprocess.run([K8S, "build"], check=True, timeout=7200)
    subprocess.run([K8S, "up"], check=True, timeout=900, env={**os.environ, **podman})
    try:
        yield
    finally:
        if os.environ.get("DRIFTLINE_KEEP_STACK") != "1":
            subprocess.run([K8S, "down"], timeout=300)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("k8s-servers")
    venv = REPO / ".venv" / "bin"
    procs = [
        subprocess.Popen(
            [str(venv / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(MLFLOW_PORT),
             "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--serve-artifacts",
             "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
            stdout=(root / "mlflow.log").open("w"), stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(venv / "moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
            stdout=(root / "moto.log").open("w"), stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    try:
        wait_port(MLFLOW_PORT)
        wait_port(MOTO_PORT)
        yield root
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_train_task_runs_as_a_pod_and_its_version_lands_in_mlflow(cluster: None, servers: Path) -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        stdin='{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "driftline"}}',
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "driftline-mlflow", "namespace": "driftline"},
        "stringData": {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{MLFLOW_PORT}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}",
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(secret))
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{MOTO_PORT}", region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    s3.create_bucket(Bucket="driftline-snapshots")
    home = servers / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRIFTLINE"))},
        "AIRFLOW_HOME": str(servers / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{servers}/airflow.db",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {
                    "kube_config_path": str(KUBECONFIG),
                    "namespace": "driftline",
                    # the XCom sidecar's image: the local Debian base (no registry for alpine)
                    "xcom_sidecar_container_image": "localhost/driftline/debian:bookworm",
                },
            }
        ),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "local",
                "password": "local",
                "extra": {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{MOTO_PORT}"},
            }
        ),
        "DRIFTLINE_SNAPSHOT_CONN_ID": "aws_default",
        "DRIFTLINE_HOME": str(home),
        "DRIFTLINE_PROJECT_ROOT": str(REPO),
        "PYTHONPATH": str(REPO),
    }
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(Path(__file__).with_name("run_train_pod.py")), str(REPO / ".driftline" / "data")],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "success", output[-6000:]
    train = result["result"]
    assert train["run_id"]
    # The pod's logs reached Airflow's task log, and its run (and model) is in MLflow.
    assert "driftline.training" in output or "train" in output
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{MLFLOW_PORT}")
    run = client.get_run(train["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags.get("airflow.dag_id") == "driftline__churn__k8s_train", run.data.tags
