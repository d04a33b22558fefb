"""The compose stack for real (podman-compose, local base images): the CeleryExecutor runs the
example model's pipeline for a data day triggered through the REST API, and the predictions
service answers a lookup of one of the customers that run scored.

Slow (images, then a stack of Postgres, Redis, moto, MLflow, five Airflow components and the
service on 2 cores): opt-in with `make test-containers`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.containers.conftest import LOCAL, REPO

pytestmark = pytest.mark.timeout(7200)  # a rebuild of two images (~20 min here), the stack (~15), the run

PROJECT = "driftline-ct"
PORTS = {
    "DRIFTLINE_AIRFLOW_PORT": "17980",
    "DRIFTLINE_MLFLOW_PORT": "17981",
    "DRIFTLINE_SERVICE_PORT": "17982",
}
DAG_ID = "driftline__churn"
DATA_DAY = dt.date(2026, 1, 15)
RUN_TIMEOUT_S = 1800


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def stack(
    podman: dict[str, str], images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    data = REPO / ".driftline" / "data"
    if not (data / "churn").exists():
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "include/generate_churn_data.py", "--out", str(data)],
            cwd=REPO, check=True, timeout=600,
        )  # fmt: skip
    key = secrets.token_urlsafe(24)
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(
        "\n".join(
            [
                "AIRFLOW_UID=50000",
                f"AIRFLOW_JWT_SECRET={secrets.token_urlsafe(48)}",
                "AIRFLOW_FERNET_KEY=" + __import__("base64").urlsafe_b64encode(os.urandom(32)).decode(),
                f"GRAFANA_ADMIN_PASSWORD={secrets.token_urlsafe(18)}",
                f"DRIFTLINE_API_KEY_SHA256={hashlib.sha256(key.encode()).hexdigest()}",
            ]
        )
        + "\n"
    )
    env = {
        **podman,
        **PORTS,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "DRIFTLINE_COMPOSE_ENV_FILE": str(env_file),
        "DRIFTLINE_COMPOSE_BUILD": "0",  # the `images` fixture built them, within its own time limit
        "DRIFTLINE_COMPOSE_TIMEOUT_S": "1500",  # the staged start's deadline, inside `up`'s 1800 s below
    }
    compose = str(LOCAL / "compose.sh")
    try:
        subprocess.run([compose, "up"], env=env, check=True, timeout=1800)
        yield {"key": key, **env}
    finally:
        if os.environ.get("DRIFTLINE_KEEP_STACK") != "1":
            subprocess.run([compose, "down", "-v"], env=env, timeout=600)


def admin_token(env: dict[str, str]) -> str:
    password_file = "/opt/airflow/simple_auth_manager_passwords.json.generated"
    out = subprocess.run(
        ["podman", "exec", f"{PROJECT}_airflow-apiserver_1", "cat", password_file],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    password = json.loads(out)["admin"]
    base = f"http://127.0.0.1:{env['DRIFTLINE_AIRFLOW_PORT']}"
    token: str = http("POST", f"{base}/auth/token", {"username": "admin", "password": password})[
        "access_token"
    ]
    return token


def first_entity(day: dt.date) -> str:
    import pandas as pd

    frame = pd.read_parquet(REPO / ".driftline" / "data" / "churn" / f"dt={day.isoformat()}" / "part.parquet")
    return str(frame["customer_id"].iloc[0])


def test_a_model_day_runs_through_the_rest_api_and_the_service_serves_it(stack: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{stack['DRIFTLINE_AIRFLOW_PORT']}"
    auth = {"Authorization": f"Bearer {admin_token(stack)}"}
    deadline = time.monotonic() + 300
    while True:  # the dag-processor parses the baked configs after start-up
        try:
            http("GET", f"{base}/api/v2/dags/{DAG_ID}", headers=auth)
            break
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)
    http("PATCH", f"{base}/api/v2/dags/{DAG_ID}", {"is_paused": False}, headers=auth)
    run_id = f"containers-test-{int(time.time())}"
    logical = dt.datetime.combine(DATA_DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).isoformat()
    http(
        "POST",
        f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
        {"dag_run_id": run_id, "logical_date": logical},
        headers=auth,
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        state = http("GET", f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=auth)["state"]
        if state in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {state} after {RUN_TIMEOUT_S} s"
        time.sleep(10)
    tasks = http("GET", f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100", headers=auth)
    states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
    assert state == "success", f"run {run_id} {state}: {states}"
    assert states.get("score_and_write") == "success", states

    entity = first_entity(DATA_DAY)
    service = f"http://127.0.0.1:{stack['DRIFTLINE_SERVICE_PORT']}"
    item = http("GET", f"{service}/v1/models/churn/predictions/{entity}", headers={"X-API-Key": stack["key"]})
    assert str(item["customer_id"] if "customer_id" in item else item.get("entity_id")) == entity, item
    assert 0.0 <= float(item["score"]) <= 1.0, item
