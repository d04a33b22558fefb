"""The training pod for real: the pipeline's TrainPodOperator runs the training image on a
Kubernetes API server here (docker/local/k8s.sh: 1.20 from Debian's sources, containerd, one
node), the pod reads its snapshot from S3 (moto), logs to MLflow, and its exit code, logs and
XCom reach Airflow; a pod deleted mid-run fails the task; a second try of the same task run
reattaches to its pod (found by its labels) instead of starting another.

Opt-in and slow: `make test-k8s` (`make k8s-local` builds the cluster once; the training image
comes from `make images`). Each test's Airflow run is a `dag.test()` in a process of its own
(tests/containers/run_train_pod.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers.conftest import LOCAL, REPO

pytestmark = pytest.mark.timeout(3600)  # a cluster start and three training pods on 2 cores

K8S = str(LOCAL / "k8s.sh")
RUNNER = str(Path(__file__).with_name("run_train_pod.py"))
PYTHON = str(REPO / ".venv" / "bin" / "python")
MLFLOW_PORT = 17990
MOTO_PORT = 17991
K8S_HOME = Path(os.environ.get("K8S_HOME", Path.home() / ".cache" / "driftline" / "k8s"))
KUBECONFIG = K8S_HOME / "kubeconfig"
NAMESPACE = "ml-training"  # training.kubernetes.namespace in dags/configs/churn.yaml
DAG_ID = "driftline__churn__k8s_train"


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


def worker_kubeconfig(path: Path) -> Path:
    """A kubeconfig for the service account the official chart's workers run as (`airflow/airflow-worker`),
    so that the operator has exactly the rights docker/k8s/training-rbac.yaml grants, not admin's."""
    kubectl(
        "apply",
        "-f",
        "-",
        stdin=kubectl(
            "create", "serviceaccount", "airflow-worker", "-n", "airflow", "--dry-run=client", "-o", "json"
        ),
    )
    deadline = time.monotonic() + 60
    while not (
        secret := kubectl(
            "get", "serviceaccount", "airflow-worker", "-n", "airflow", "-o", "jsonpath={.secrets[0].name}"
        )
    ):
        assert time.monotonic() < deadline, "no token Secret for the service account airflow/airflow-worker"
        time.sleep(1)
    token = kubectl("get", "secret", secret, "-n", "airflow", "-o", "jsonpath={.data.token}")
    config = yaml.safe_load(KUBECONFIG.read_text())
    config["users"] = [{"name": "airflow-worker", "user": {"token": base64.b64decode(token).decode()}}]
    config["contexts"][0]["context"] = {
        "cluster": config["clusters"][0]["name"],
        "user": "airflow-worker",
        "namespace": NAMESPACE,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def airflow_env(cluster: None, servers: Path) -> dict[str, str]:
    """The namespaces and RBAC of docker/k8s/, the MLflow Secret, the snapshot bucket, an Airflow
    metadata DB; the environment of every run_train_pod.py process."""
    for manifest in ("namespaces.yaml", "training-rbac.yaml"):
        kubectl("apply", "-f", str(REPO / "docker" / "k8s" / manifest))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "driftline-mlflow", "namespace": NAMESPACE},
        "stringData": {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{MLFLOW_PORT}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}",
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(secret))
    kubeconfig = worker_kubeconfig(servers / "airflow-worker.kubeconfig")
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{MOTO_PORT}", region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    s3.create_bucket(Bucket="driftline-snapshots")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRIFTLINE"))},
        "AIRFLOW_HOME": str(servers / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(servers / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{servers}/airflow.db",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {
                    "kube_config_path": str(kubeconfig),
                    "namespace": NAMESPACE,
                    # the XCom sidecar's image: Debian + pgrep, built by k8s.sh (no registry for alpine)
                    "xcom_sidecar_container_image": "localhost/driftline/xcom-sidecar:bookworm",
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
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": MLFLOW_PORT, "schema": "http"}
        ),
        "DRIFTLINE_SNAPSHOT_CONN_ID": "aws_default",
        "DRIFTLINE_HOME": str(servers / "home"),
        "DRIFTLINE_PROJECT_ROOT": str(REPO),
        "PYTHONPATH": str(REPO),
    }
    data = REPO / ".driftline" / "data"
    if not (data / "churn").exists():
        subprocess.run(
            [PYTHON, "include/generate_churn_data.py", "--out", str(data)], cwd=REPO, check=True, timeout=600
        )
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    subprocess.run(
        [PYTHON, RUNNER, "snapshot", str(data), str(servers / "snapshot.json")],
        env=env,
        check=True,
        timeout=600,
    )
    return {**env, "SNAPSHOT_JSON": str(servers / "snapshot.json")}


def start(env: dict[str, str], run_after: str, log: Path) -> subprocess.Popen[str]:
    """One Airflow run of the train task (a process group of its own: killing it is a worker dying)."""
    return subprocess.Popen(
        [PYTHON, RUNNER, "run", env["SNAPSHOT_JSON"], run_after],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str], log: Path, timeout: float = 1200) -> tuple[dict[str, Any], str]:
    proc.wait(timeout=timeout)
    output = log.read_text()
    lines = [line for line in output.splitlines() if line.startswith('{"state"')]
    assert lines, f"run_train_pod.py printed no result (exit {proc.returncode}):\n{output[-6000:]}"
    return json.loads(lines[-1]), output


def train_pods(run_after: str) -> list[dict[str, Any]]:
    """The pods of the train task of the run that `run_after` names (labels set by the provider)."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    run_id = make_safe_label_value(f"manual__{dt.datetime.fromisoformat(run_after).isoformat()}")
    pods = json.loads(
        kubectl("get", "pods", "-n", NAMESPACE, "-l", f"dag_id={DAG_ID},task_id=train", "-o", "json")
    )
    return [p for p in pods["items"] if p["metadata"]["labels"].get("run_id") == run_id]


def wait_running(
    run_after: str, proc: subprocess.Popen[str], log: Path, seconds: float = 600
) -> dict[str, Any]:
    """The task's pod once its training container runs."""
    deadline = time.monotonic() + seconds
    while True:
        for pod in train_pods(run_after):
            statuses = pod["status"].get("containerStatuses") or []
            if any(s["name"] == "base" and "running" in s.get("state", {}) for s in statuses):
                return pod
        assert proc.poll() is None, f"the run ended before its pod ran:\n{log.read_text()[-6000:]}"
        assert time.monotonic() < deadline, f"no running train pod in {seconds} s"
        time.sleep(1)


def test_the_train_task_runs_as_a_pod_and_its_version_lands_in_mlflow(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    run_after = "2026-12-01T00:00:00+00:00"
    started = time.monotonic()
    out, output = finish(start(airflow_env, run_after, tmp_path / "run.log"), tmp_path / "run.log")
    elapsed = time.monotonic() - started
    assert out["state"] == "success", output[-6000:]
    train = out["result"]
    # The pod's own log lines (the training entrypoint's logging) reached Airflow's task log, and its
    # end: the XCom above is the entrypoint's TrainResult, read from the pod by the sidecar.
    assert "[base]" in output and "INFO driftline.training:" in output, output[-4000:]
    # The XCom sidecar was stopped (pgrep in its image): the pod ends instead of running on.
    assert "Failed to kill xcom sidecar" not in output, output[-4000:]
    from mlflow import MlflowClient, register_model

    uri = f"http://127.0.0.1:{MLFLOW_PORT}"
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(train["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags.get("airflow.dag_id") == DAG_ID, run.data.tags
    assert run.data.tags.get("airflow.run_id") == out["run_id"], run.data.tags
    # The model the pod logged is on the MLflow server (artifacts served): it registers as a version.
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    version = register_model(train["model_uri"], "churn-k8s-test")
    assert client.get_model_version("churn-k8s-test", version.version).status == "READY"
    assert [p["status"]["phase"] for p in train_pods(run_after)] in ([], ["Succeeded"])
    print(json.dumps({"benchmark": "k8s_train_pod", "seconds": round(elapsed, 1)}))


def test_a_pod_deleted_mid_run_fails_the_task_clearly(airflow_env: dict[str, str], tmp_path: Path) -> None:
    run_after = "2026-12-02T00:00:00+00:00"
    log = tmp_path / "run.log"
    proc = start(airflow_env, run_after, log)
    pod = wait_running(run_after, proc, log)
    kubectl("delete", "pod", "-n", NAMESPACE, pod["metadata"]["name"], "--wait=false")
    out, output = finish(proc, log)
    assert out["state"] == "failed", output[-6000:]
    assert proc.returncode == 1
    assert f"training pod {pod['metadata']['name']} was deleted while it ran, not by this task" in output, (
        output[-6000:]
    )


def test_a_second_try_reattaches_to_the_running_pod(airflow_env: dict[str, str], tmp_path: Path) -> None:
    run_after = "2026-12-03T00:00:00+00:00"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start(airflow_env, run_after, first_log)
    pod = wait_running(run_after, first, first_log)
    os.killpg(first.pid, signal.SIGKILL)  # the worker dies: no on_kill, the pod runs on
    first.wait(timeout=60)
    assert [p["metadata"]["name"] for p in train_pods(run_after)] == [pod["metadata"]["name"]]
    second = start(airflow_env, run_after, second_log)
    names: set[str] = set()
    while second.poll() is None:  # never a second pod for this task run
        names |= {p["metadata"]["name"] for p in train_pods(run_after)}
        time.sleep(2)
    out, output = finish(second, second_log)
    assert names <= {pod["metadata"]["name"]}, names
    assert out["state"] == "success", output[-6000:]
    assert f"Found matching pod {pod['metadata']['name']}" in output, output[-6000:]
    assert "Reusing existing pod" in output, output[-6000:]
