"""Each of the three images starts: Airflow answers `version`, the training entrypoint its
`--help`, the predictions service its health probe."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(3600)  # image builds and a stack start on 2 cores take minutes


def run(podman: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "run", "--rm", *args], env=podman, capture_output=True, text=True, timeout=timeout
    )


def test_airflow_image_answers_version(podman: dict[str, str], images: dict[str, str]) -> None:
    proc = run(podman, images["airflow"], "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "3.3.2"


def test_airflow_image_has_driftline_and_validates_the_baked_configs(
    podman: dict[str, str], images: dict[str, str]
) -> None:
    proc = run(
        podman, "--entrypoint", "driftline", images["airflow"], "validate", "/opt/airflow/dags/configs"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_training_image_answers_help_without_airflow(podman: dict[str, str], images: dict[str, str]) -> None:
    proc = run(podman, images["train"], "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--snapshot" in proc.stdout
    proc = run(podman, "--entrypoint", "python", images["train"], "-c", "import airflow")
    assert proc.returncode != 0 and "No module named 'airflow'" in proc.stderr


def test_service_image_answers_its_health_probe(podman: dict[str, str], images: dict[str, str]) -> None:
    key = "containers-test-key"
    name = f"driftline-service-probe-{int(time.time())}"
    port = 18950
    start = subprocess.run(
        [
            "podman", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8000",
            "-e", f"DRIFTLINE_API_KEY_SHA256={hashlib.sha256(key.encode()).hexdigest()}",
            # Connections it reads at start (nothing listens there: the probe needs neither).
            "-e", 'AIRFLOW_CONN_AWS_DEFAULT={"conn_type": "aws", "login": "x", "password": "x", "extra": {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}}',
            "-e", 'AIRFLOW_CONN_MLFLOW_DEFAULT={"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http"}',
            images["service"],
        ],
        env=podman, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = subprocess.run(
                        ["podman", "logs", name], env=podman, capture_output=True, text=True
                    )
                    pytest.fail(f"the service did not answer /healthz in 120 s:\n{logs.stdout}{logs.stderr}")
                time.sleep(2)
        assert body["status"] == "ok"
        assert "churn" in body["models"]
    finally:
        subprocess.run(["podman", "rm", "-f", name], env=podman, capture_output=True)
