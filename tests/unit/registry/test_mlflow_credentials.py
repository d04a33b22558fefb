"""Credentials belong to a client, never to the process (issue 22).

Two MLflow servers (loopback HTTP servers answering MLflow's REST API and recording every
Authorization header) with different credentials, used from one process through two Airflow
connections, in turn and from threads at once: each server only ever sees its own credentials
(registry calls, run reads, artifact listing and downloads), and os.environ is unchanged.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from driftline.hooks.mlflow import MlflowHook


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body: Any
        if url.path == "/api/2.0/mlflow/registered-models/get":
            body = {"registered_model": {"name": query.get("name", "?")}}
        elif url.path == "/api/2.0/mlflow/runs/get":
            info = {
                "run_id": "r1",
                "run_uuid": "r1",
                "experiment_id": "0",
                "artifact_uri": "mlflow-artifacts:/0/r1/artifacts",
                "status": "FINISHED",
                "lifecycle_stage": "active",
            }
            body = {"run": {"info": info, "data": {}}}
        elif url.path == "/api/2.0/mlflow-artifacts/artifacts":
            path = query.get("path", "")
            body = {"files": [] if path.endswith(".txt") else [{"path": "notes.txt", "is_dir": False}]}
        elif url.path.startswith("/api/2.0/mlflow-artifacts/artifacts/"):
            data = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _server() -> tuple[ThreadingHTTPServer, list[str | None]]:
    seen: list[str | None] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def two_servers(monkeypatch: pytest.MonkeyPatch):
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    a, seen_a = _server()
    b, seen_b = _server()
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_A",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": a.server_address[1],
                "login": "alice",
                "password": "pw-a",
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_B",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": b.server_address[1],
                "login": "bob",
                "password": "pw-b",
            }
        ),
    )
    yield seen_a, seen_b
    for server in (a, b):
        server.shutdown()
        server.server_close()


def test_two_servers_each_get_only_their_own_credentials(two_servers, tmp_path: Path) -> None:
    seen_a, seen_b = two_servers
    before = dict(os.environ)
    hook_a, hook_b = MlflowHook("mlflow_a"), MlflowHook("mlflow_b")
    for hook, model in ((hook_a, "m_a"), (hook_b, "m_b"), (hook_a, "m_a")):
        assert hook.client.get_registered_model(model).name == model
    # artifacts too: listing (the caller's thread) and downloads (MLflow's download threads)
    for hook in (hook_b, hook_a):
        assert [f.path for f in hook.client.list_artifacts("r1")] == ["notes.txt"]
        local = hook.client.download_artifacts("r1", "notes.txt", str(tmp_path))
        assert Path(local).read_bytes() == b"hello"

    def mixed(i: int) -> None:
        hook = hook_a if i % 2 else hook_b
        hook.client.get_registered_model(f"m{i}")
        hook.client.list_artifacts("r1")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(mixed, range(40)))

    assert seen_a and seen_b
    assert set(seen_a) == {_basic("alice", "pw-a")}
    assert set(seen_b) == {_basic("bob", "pw-b")}
    # no credential reaches the environment; the one process-wide MLflow setting Driftline writes is
    # the request bound (driftline.timeouts.bound_mlflow_http: MLflow reads it from the environment)
    bounds = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    assert {k: v for k, v in os.environ.items() if k not in bounds} == {
        k: v for k, v in before.items() if k not in bounds
    }


def test_credentials_only_go_to_their_own_origin() -> None:
    from driftline.mlflow_auth import MlflowCredentials

    creds = MlflowCredentials(server="https://mlflow.internal", username="u", password="hunter2-pw")
    assert creds.covers("https://mlflow.internal:443/api/2.0/mlflow-artifacts/artifacts")
    assert not creds.covers("https://mlflow.internal.evil.example/api")
    assert not creds.covers("http://mlflow.internal/api")  # another scheme is another origin
    assert not creds.covers("https://mlflow.internal:8443/api")
    elsewhere = creds.host_creds("https://elsewhere.example/api")
    assert elsewhere.username is None and elsewhere.password is None
    assert "hunter2" not in repr(creds)  # never printed
