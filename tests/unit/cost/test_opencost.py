from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from driftline.cost.opencost import OpenCostError, allocation_for, prometheus_label

T0 = dt.datetime(2026, 3, 10, 12, 0, 30, tzinfo=dt.UTC)


class _OpenCost(BaseHTTPRequestHandler):
    """Answers /allocation as OpenCost does: {"code": 200, "data": [{<aggregate value>: allocation}]}."""

    queries: list[dict[str, list[str]]] = []

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.queries.append(query)
        if url.path != "/allocation":
            self.send_response(404)
            self.end_headers()
            return
        body = {
            "code": 200,
            "data": [
                {
                    "manual__2026-03-10T12_00_00-00_00-abc": {
                        "name": "manual__2026-03-10T12_00_00-00_00-abc",
                        "cpuCost": 0.5,
                        "ramCost": 0.25,
                        "pvCost": 0.0,
                        "networkCost": 0.05,
                        "gpuCost": 2.0,
                        "totalCost": 2.8,
                        "minutes": 60,
                    },
                    "__unallocated__": {"name": "__unallocated__", "totalCost": 9.0},
                }
            ],
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
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


def test_allocation_of_the_runs_pods(opencost):
    got = allocation_for(opencost, "manual__2026-03-10T12_00_00-00_00-abc", T0, T0 + dt.timedelta(hours=1))
    assert got is not None
    assert (
        got.compute == pytest.approx(0.8)
        and got.gpu == pytest.approx(2.0)
        and got.total == pytest.approx(2.8)
    )
    [query] = _OpenCost.queries
    assert query["aggregate"] == ["label:driftline_run"]
    assert query["window"] == ["2026-03-10T12:00:00Z,2026-03-10T13:01:00Z"]
    assert query["accumulate"] == ["true"]


def test_unknown_run_and_errors(opencost):
    assert allocation_for(opencost, "other-run", T0, T0) is None
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for(opencost + "/nope", "x", T0, T0)
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for("http://127.0.0.1:9", "x", T0, T0, timeout=2)


def test_prometheus_label():
    assert prometheus_label("driftline/run") == "driftline_run"
    assert prometheus_label("app.kubernetes.io/name") == "app_kubernetes_io_name"
