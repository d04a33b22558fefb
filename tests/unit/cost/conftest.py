"""A loopback HTTP server answering like OpenCost's /allocation API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest


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
