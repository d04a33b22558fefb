"""The service's metrics in Prometheus text format (GET /metrics), summed over its worker processes.

- `driftline_service_requests_total{route,status}`: requests by route template (never the raw
  path: entity ids would make one series each) and status code;
- `driftline_service_request_seconds{route}`: latency histogram, measured around the whole app;
- `driftline_service_score_batch_requests` and `driftline_service_score_batch_rows{model}`:
  how many requests and rows each predict call took (micro-batching at work);
- `driftline_service_champion_version{model}` and `driftline_service_ready`: per worker.

With several workers (`driftline serve --workers N`) each process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (set by `driftline serve` before the workers start) and any worker's
/metrics reads them all: prometheus_client's multiprocess mode. One process (the tests) keeps its
values in its own registry.
"""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_VAR))
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "driftline_service_requests", "Requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "driftline_service_request_seconds",
            "Request latency by route (seconds)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "driftline_service_score_batch_requests",
            "Requests scored by one predict call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "driftline_service_score_batch_rows",
            "Rows scored by one predict call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        gauge: dict[str, Any] = {"multiprocess_mode": "liveall"} if self.multiprocess else {}
        self.champion = Gauge(
            "driftline_service_champion_version",
            "The champion version a worker scores with (0: none)",
            ["model"],
            registry=r,
            **gauge,
        )
        self.ready = Gauge(
            "driftline_service_ready",
            "1 when every model's champion is loaded and warmed up",
            registry=r,
            **gauge,
        )

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, model: str, requests: int, rows: int) -> None:
        self.batch_requests.labels(model).observe(requests)
        self.batch_rows.labels(model).observe(rows)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
