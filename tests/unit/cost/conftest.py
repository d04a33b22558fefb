"""A loopback HTTP server answering like OpenCost's /allocation API, aggregating pods by their labels."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

COST_KEYS = ("cpuCost", "ramCost", "pvCost", "networkCost", "gpuCost", "totalCost", "minutes")
# Two models on the same schedule: the same scheduled run id, different model and DAG labels.
SHARED_RUN_ID = "scheduled__2026-03-10T00:00:00+00:00"
SHARED_RUN = make_safe_label_value(SHARED_RUN_ID)
RUN = "manual__2026-03-10T12_00_00-00_00-abc"


def _pod(model: str, run: str, cpu: float, gpu: float, **extra: str) -> dict[str, Any]:
    labels = {"driftline_model": model, "driftline_dag": f"driftline__{model}", "driftline_run": run, **extra}
    costs = {"cpuCost": cpu, "ramCost": cpu / 2, "pvCost": 0.0, "networkCost": 0.05, "gpuCost": gpu}
    costs["totalCost"] = sum(costs.values())
    return {"labels": labels, **costs, "minutes": 60}


PODS: list[dict[str, Any]] = [
    _pod("churn", RUN, cpu=0.5, gpu=2.0),
    _pod("churn", SHARED_RUN, cpu=1.0, gpu=4.0),
    _pod("fraud", SHARED_RUN, cpu=10.0, gpu=40.0),
    # a pod with only the run label (what training pods used to carry): never attributed to a model
    {"labels": {"driftline_run": SHARED_RUN}, "cpuCost": 100.0, "gpuCost": 100.0, "totalCost": 200.0},
]


class _OpenCost(BaseHTTPRequestHandler):
    """Answers /allocation as OpenCost does: {"code": 200, "data": [{<aggregate name>: allocation}]},
    the name being the values of the aggregate labels joined by "/" (`__unallocated__` when a pod lacks one)."""

    queries: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.queries.append(query)
        if url.path != "/allocation":
            self.send_response(404)
            self.end_headers()
            return
        keys = [a.removeprefix("label:") for a in query["aggregate"][0].split(",")]
        sets: dict[str, dict[str, Any]] = {}
        for pod in PODS:
            values = [pod["labels"].get(k) for k in keys]
            name = "__unallocated__" if None in values else "/".join(str(v) for v in values)
            entry = sets.setdefault(name, {"name": name, **dict.fromkeys(COST_KEYS, 0.0)})
            for k in COST_KEYS:
                entry[k] += float(pod.get(k) or 0.0)
        data = json.dumps({"code": 200, "data": [sets]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def opencost():
    server = HTTPServer(("127.0.0.1", 0), _OpenCost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _OpenCost.queries = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
